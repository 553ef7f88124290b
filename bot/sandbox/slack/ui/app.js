// The Slack stand-in's web page: the workspace as one person sees it in a Slack client.
//
// It reads the control API (/_sandbox/directory, channel messages, threads, the person's
// ephemerals and modals) and follows /_sandbox/events: each event names what changed, and only
// that channel, thread, list of ephemerals or the directory is fetched again (one fetch at a
// time per kind, repeated once if more events came meanwhile). What the person types goes through
// the same control API a test uses: /act/command, /act/mention, /act/dm, /act/message, /act/click
// and /act/submit, so the app hears it over Socket Mode exactly as it would from Slack.
"use strict";
(() => {
  const { esc, mrkdwn, formatDate } = window.SlackText;
  const Blocks = window.SlackBlocks;
  const CONTROL = "/_sandbox/";
  const DM_PENDING = "@dm"; // the person's DM with the app before its first message opens it
  const GROUP_SECONDS = 300; // messages by one author within 5 minutes share one header
  const SLACKBOT = "USLACKBOT";

  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  const state = {
    dir: null,
    users: new Map(),
    channels: new Map(),
    groups: new Map(),
    me: null,
    current: null,
    thread: null, // {channel, ts}
    messages: [],
    threadMessages: [],
    threadMissing: false,
    ephemerals: [],
    views: [],
    unread: new Set(),
    dismissed: new Set(),
    closedViews: new Set(),
    file: null, // {name, content} shown over everything
    stickChannel: false,
    stickThread: false,
  };

  // ------------------------------------------------------------------ control API
  class ApiError extends Error {
    constructor(status, error) {
      super(error);
      this.status = status;
      this.error = error;
    }
  }

  async function call(method, path, body) {
    const response = await fetch(CONTROL + path, {
      method,
      cache: "no-store",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok) throw new ApiError(response.status, (answer && answer.error) || `HTTP ${response.status}`);
    return answer;
  }
  const get = (path) => call("GET", path);
  const post = (path, body) => call("POST", path, body);

  // One run at a time; a call during a run asks for one more run after it (events come in bursts).
  function coalesced(run) {
    let running = null;
    let again = false;
    return function trigger() {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        do {
          again = false;
          try {
            await run();
          } catch (error) {
            console.warn(error);
            if (!(error instanceof ApiError)) toast(`Could not reach the sandbox: ${error.message}`);
          }
        } while (again);
      })().finally(() => {
        running = null;
      });
      return running;
    };
  }

  // ------------------------------------------------------------------ people and names
  function displayName(user) {
    if (!user) return "";
    return (user.profile && user.profile.display_name) || user.name || user.id;
  }

  function realName(user) {
    if (!user) return "";
    return user.real_name || displayName(user);
  }

  function people() {
    return [...state.users.values()]
      .filter((user) => !user.is_bot && !user.deleted && user.id !== SLACKBOT)
      .sort((a, b) => realName(a).localeCompare(realName(b)));
  }

  function bot() {
    return state.dir ? state.dir.bot : { user_id: "", name: "app" };
  }

  function myDm() {
    for (const channel of state.channels.values()) {
      if (channel.is_im && channel.user === state.me) return channel;
    }
    return null;
  }

  function isDm(channelId) {
    if (channelId === DM_PENDING) return true;
    const channel = state.channels.get(channelId);
    return Boolean(channel && channel.is_im);
  }

  function channelLabel(channelId) {
    if (isDm(channelId)) return bot().name;
    const channel = state.channels.get(channelId);
    return channel ? channel.name : channelId;
  }

  function textContext() {
    return {
      me: state.me,
      user: (id) => {
        const user = state.users.get(id);
        return user ? { name: displayName(user) } : null;
      },
      channel: (id) => {
        const channel = state.channels.get(id);
        if (!channel) return null;
        return { name: channel.is_im ? displayName(state.users.get(channel.user)) : channel.name };
      },
      group: (id) => state.groups.get(id) || null,
    };
  }

  function author(message) {
    if (message.user === SLACKBOT) return { id: SLACKBOT, name: "Slackbot", bot: true };
    if (message.bot_id || message.bot_profile) {
      const name = (message.bot_profile && message.bot_profile.name) || message.username || bot().name;
      return { id: message.bot_id || message.user, name, bot: true };
    }
    const user = state.users.get(message.user);
    return { id: message.user, name: user ? realName(user) : message.user || "someone", bot: false };
  }

  function hue(text) {
    let hash = 0;
    for (const char of String(text)) hash = (hash * 31 + char.charCodeAt(0)) % 360;
    return hash;
  }

  function avatar(id, name, { bot: isBot = false, size = "" } = {}) {
    const initials = String(name || "?")
      .replace(/\([^)]*\)/g, " ") // "Bob (developer)" is B, not B(
      .split(/[\s._-]+/)
      .filter(Boolean)
      .map((word) => word[0])
      .join("")
      .slice(0, 2)
      .toUpperCase();
    return `<span class="avatar${isBot ? " avatar-bot" : ""}${size ? ` ${size}` : ""}" style="--hue:${hue(id)}" aria-hidden="true">${esc(initials || "?")}</span>`;
  }

  // ------------------------------------------------------------------ time
  const cmpTs = (a, b) => (a.length === b.length ? (a < b ? -1 : a > b ? 1 : 0) : Number(a) - Number(b));
  const dateOf = (ts) => new Date(Number(ts) * 1000);
  const clock = (ts) =>
    dateOf(ts).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }).replace(/\u202f/g, " ");
  const fullDate = (ts) => dateOf(ts).toLocaleString(undefined, { dateStyle: "full", timeStyle: "medium" });

  function dayLabel(ts) {
    const text = formatDate(Math.floor(Number(ts)), "{date_long_pretty}");
    return text[0].toUpperCase() + text.slice(1);
  }

  // ------------------------------------------------------------------ messages as HTML
  const EYE = `<svg viewBox="0 0 20 20" width="14" height="14" aria-hidden="true"><path fill="currentColor" d="M10 4C5.5 4 2.2 7.3 1 10c1.2 2.7 4.5 6 9 6s7.8-3.3 9-6c-1.2-2.7-4.5-6-9-6Zm0 10a4 4 0 1 1 0-8 4 4 0 0 1 0 8Zm0-6a2 2 0 1 0 0 4 2 2 0 0 0 0-4Z"/></svg>`;

  function body(message, where) {
    const ctx = textContext();
    if (message.subtype === "tombstone") return `<div class="tombstone">This message was deleted.</div>`;
    const edited = message.edited ? ` <span class="edited" title="Edited ${esc(fullDate(message.edited.ts))}">(edited)</span>` : "";
    let html;
    if (message.blocks && message.blocks.length) {
      html = Blocks.blocks(message.blocks, ctx, where) + (edited ? `<div class="edited-line">${edited}</div>` : "");
    } else {
      html = `<div class="text">${mrkdwn(message.text || "", ctx)}${edited}</div>`;
    }
    return html + Blocks.attachments(message.attachments, ctx) + Blocks.files(message.files);
  }

  function reactions(message) {
    if (!message.reactions || !message.reactions.length) return "";
    return `<div class="reactions">${message.reactions
      .map((reaction) => {
        const who = reaction.users.map((id) => displayName(state.users.get(id)) || id).join(", ");
        const mine = reaction.users.includes(state.me) ? " reaction-mine" : "";
        return `<span class="reaction${mine}" title="${esc(who)} reacted with :${esc(reaction.name)}:">${window.SlackText.plain(`:${reaction.name}:`)}<span class="reaction-count">${reaction.count}</span></span>`;
      })
      .join("")}</div>`;
  }

  function threadSummary(message) {
    if (!message.reply_count) return "";
    const faces = (message.reply_users || [])
      .slice(0, 5)
      .map((id) => {
        const user = state.users.get(id);
        const isBot = id === bot().user_id;
        return avatar(id, isBot ? bot().name : realName(user) || id, { bot: isBot, size: "avatar-xs" });
      })
      .join("");
    const count = message.reply_count === 1 ? "1 reply" : `${message.reply_count} replies`;
    const last = message.latest_reply ? formatDate(Math.floor(Number(message.latest_reply)), "{ago}") : "";
    return `<button type="button" class="thread-link" data-thread="${esc(message.ts)}">${faces}<span class="thread-count">${count}</span><span class="thread-last">Last reply ${esc(last)}</span><span class="thread-view">View thread ›</span></button>`;
  }

  // item: {message, ephemeral, compact}; where: the channel the message is in
  function messageHtml(item, channelId, { inThread = false } = {}) {
    const message = item.message;
    const who = author(message);
    const where = { channel: item.ephemeral ? message.channel : channelId, ts: message.ts };
    const classes = ["message"];
    if (item.compact) classes.push("message-compact");
    if (item.ephemeral) classes.push("message-ephemeral");
    if (message.subtype === "tombstone") classes.push("message-tombstone");
    const note = item.ephemeral ? `<div class="ephemeral-note">${EYE}<span>Only visible to you</span></div>` : "";
    const broadcast =
      message.subtype === "thread_broadcast" && !inThread
        ? `<div class="broadcast-note">replied to a thread: <button type="button" class="link-button" data-thread="${esc(message.thread_ts)}">view thread</button></div>`
        : "";
    const gutter = item.compact
      ? `<time class="gutter-time" title="${esc(fullDate(message.ts))}">${esc(clock(message.ts))}</time>`
      : avatar(who.id, who.name, { bot: who.bot });
    const header = item.compact
      ? ""
      : `<div class="message-header"><span class="author">${esc(who.name)}</span>${who.bot ? `<span class="badge">APP</span>` : ""}<time class="time" title="${esc(fullDate(message.ts))}">${esc(clock(message.ts))}</time></div>`;
    const dismiss = item.ephemeral
      ? `<button type="button" class="link-button dismiss" data-dismiss="${esc(message.ts)}">Dismiss message</button>`
      : "";
    return `<div class="${classes.join(" ")}" data-ts="${esc(message.ts)}">${note}<div class="message-row"><div class="message-gutter">${gutter}</div><div class="message-content">${header}${broadcast}<div class="message-body">${body(message, where)}</div>${reactions(message)}${inThread ? "" : threadSummary(message)}${dismiss}</div></div></div>`;
  }

  // Group messages as Slack does and put a divider before each new day.
  function timeline(items, channelId, options = {}) {
    const entries = [];
    let previous = null;
    let previousDay = null;
    for (const item of items) {
      const message = item.message;
      const day = dateOf(message.ts).toDateString();
      if (day !== previousDay && !options.noDays) {
        entries.push({ key: `day-${day}`, html: `<div class="day-divider" role="separator"><span>${esc(dayLabel(message.ts))}</span></div>` });
        previous = null;
      }
      previousDay = day;
      const who = author(message).id;
      item.compact =
        previous !== null &&
        !item.ephemeral &&
        !previous.ephemeral &&
        !item.noGroup &&
        author(previous.message).id === who &&
        message.subtype !== "tombstone" &&
        previous.message.subtype !== "tombstone" &&
        message.subtype !== "thread_broadcast" &&
        !previous.message.reply_count &&
        Number(message.ts) - Number(previous.message.ts) < GROUP_SECONDS;
      entries.push({ key: `${item.ephemeral ? "e" : "m"}-${message.ts}`, html: messageHtml(item, channelId, options) });
      previous = item;
    }
    return entries;
  }

  // Replace only the nodes whose HTML changed, so a click target or a focused select survives.
  const renderedHtml = new WeakMap();

  function build(html, key) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const node = template.content.firstElementChild;
    node.dataset.key = key;
    renderedHtml.set(node, html);
    return node;
  }

  function reconcile(container, entries) {
    const old = new Map([...container.children].map((node) => [node.dataset.key, node]));
    const keep = new Set();
    let cursor = container.firstElementChild;
    for (const { key, html } of entries) {
      let node = old.get(key);
      if (!node || renderedHtml.get(node) !== html) {
        const fresh = build(html, key);
        if (node) {
          node.replaceWith(fresh);
          if (cursor === node) cursor = fresh;
        }
        node = fresh;
      }
      keep.add(node);
      if (node === cursor) cursor = cursor.nextElementSibling;
      else container.insertBefore(node, cursor);
    }
    for (const node of [...container.children]) if (!keep.has(node)) node.remove();
  }

  function keepingScroll(container, forceBottom, update) {
    const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
    update();
    if (forceBottom || atBottom) container.scrollTop = container.scrollHeight;
  }

  // ------------------------------------------------------------------ rendering
  function renderHeader() {
    const team = state.dir ? state.dir.team : null;
    const name = team ? team.name || team.domain : "Slack sandbox";
    $("team-name").textContent = name;
    $("sidebar-team-name").textContent = name;
    $("sidebar-team-sub").textContent = team ? `${team.domain}.slack.com · local sandbox` : "";
    const where = state.current ? (isDm(state.current) ? channelLabel(state.current) : `#${channelLabel(state.current)}`) : "";
    document.title = where ? `${where} - ${name} - Slack sandbox` : `${name} - Slack sandbox`;
  }

  function renderPicker() {
    const picker = $("me-picker");
    const everyone = people();
    picker.innerHTML = everyone.length
      ? everyone.map((user) => `<option value="${esc(user.id)}">${esc(realName(user))} (@${esc(displayName(user))})</option>`).join("")
      : `<option value="">no people yet</option>`;
    picker.disabled = !everyone.length;
    if (state.me) picker.value = state.me;
    const me = state.users.get(state.me);
    $("me-avatar").outerHTML = me
      ? avatar(me.id, realName(me), { size: "avatar-sm" }).replace("<span ", `<span id="me-avatar" `)
      : `<span class="avatar avatar-sm" id="me-avatar" aria-hidden="true"></span>`;
  }

  function renderSidebar() {
    const channels = [...state.channels.values()]
      .filter((channel) => !channel.is_im)
      .sort((a, b) => a.name.localeCompare(b.name));
    $("channel-list").innerHTML = channels
      .map((channel) => {
        const active = channel.id === state.current ? " active" : "";
        const unread = state.unread.has(channel.id) ? " unread" : "";
        const icon = channel.is_private ? "🔒" : "#";
        return `<li><button type="button" class="sidebar-item${active}${unread}" data-open-channel="${esc(channel.id)}"><span class="sidebar-icon" aria-hidden="true">${icon}</span><span class="sidebar-name">${esc(channel.name)}</span></button></li>`;
      })
      .join("");
    const dm = myDm();
    const active = isDm(state.current) ? " active" : "";
    const unread = dm && state.unread.has(dm.id) ? " unread" : "";
    $("dm-list").innerHTML = state.me
      ? `<li><button type="button" class="sidebar-item${active}${unread}" data-open-dm><span class="sidebar-icon">${avatar(bot().user_id || "app", bot().name, { bot: true, size: "avatar-xs" })}</span><span class="sidebar-name">${esc(bot().name)}</span><span class="badge badge-dark">APP</span></button></li>`
      : "";
  }

  function hint(channelId) {
    const name = bot().name;
    if (!state.me) return "Add people to the workspace to talk to the app.";
    if (isDm(channelId)) return `<b>Enter</b> sends · write to ${esc(name)} in plain text, or run a <code>/command</code>`;
    return `<b>Enter</b> sends · <code>/ops …</code> runs a command · <code>@${esc(name)} …</code> mentions the app`;
  }

  function renderChannel({ forceBottom = false } = {}) {
    const channelId = state.current;
    renderHeader();
    if (!channelId) {
      $("channel-title").textContent = "No channel yet";
      $("channel-sub").textContent = "";
      $("messages").innerHTML = `<div class="empty">This workspace has no channels yet.</div>`;
      return;
    }
    const dm = isDm(channelId);
    const channel = state.channels.get(channelId);
    $("channel-title").innerHTML = dm
      ? `${avatar(bot().user_id || "app", bot().name, { bot: true, size: "avatar-sm" })}<span>${esc(bot().name)}</span><span class="badge">APP</span>`
      : `<span class="pane-hash">${channel && channel.is_private ? "🔒" : "#"}</span><span>${esc(channelLabel(channelId))}</span>`;
    $("channel-sub").innerHTML =
      !dm && channel && channel.is_member === false
        ? `${esc(bot().name)} is not in this channel`
        : dm
          ? "Direct message with the app"
          : "";
    const place = dm ? esc(bot().name) : `#${esc(channelLabel(channelId))}`;
    $("composer-input").placeholder = dm ? `Message ${place}` : `Message ${place}`;
    $("composer-input").disabled = !state.me;
    $("composer-hint").innerHTML = hint(channelId);

    const items = state.messages.map((message) => ({ message, ephemeral: false }));
    const realId = channelId === DM_PENDING ? null : channelId;
    for (const ephemeral of state.ephemerals) {
      if (ephemeral.channel === realId && !ephemeral.thread_ts && !state.dismissed.has(ephemeral.ts)) {
        items.push({ message: ephemeral, ephemeral: true });
      }
    }
    items.sort((a, b) => cmpTs(a.message.ts, b.message.ts));
    const container = $("messages");
    const intro = {
      key: "intro",
      html: dm
        ? `<div class="channel-intro">${avatar(bot().user_id || "app", bot().name, { bot: true, size: "avatar-lg" })}<h2>${esc(bot().name)}</h2><p>This is your direct message with <b>${esc(bot().name)}</b>. Type <code>help</code> to see what it can do.</p></div>`
        : `<div class="channel-intro"><h2>#${esc(channelLabel(channelId))}</h2><p>This is the start of <b>#${esc(channelLabel(channelId))}</b>. Try <code>/ops help</code> or <code>@${esc(bot().name)} help</code>.</p></div>`,
    };
    keepingScroll(container, forceBottom || state.stickChannel, () =>
      reconcile(container, [intro, ...timeline(items, realId)]),
    );
    state.stickChannel = false;
  }

  function renderThread({ forceBottom = false } = {}) {
    const pane = $("thread-pane");
    document.body.classList.toggle("with-thread", Boolean(state.thread));
    if (!state.thread) {
      pane.hidden = true;
      return;
    }
    pane.hidden = false;
    const { channel, ts } = state.thread;
    $("thread-sub").textContent = isDm(channel) ? bot().name : `#${channelLabel(channel)}`;
    const container = $("thread-messages");
    if (state.threadMissing) {
      reconcile(container, [{ key: "gone", html: `<div class="empty">This thread is gone: its message was deleted.</div>` }]);
      return;
    }
    const [parent, ...replies] = state.threadMessages;
    const items = replies.map((message) => ({ message, ephemeral: false }));
    for (const ephemeral of state.ephemerals) {
      if (ephemeral.channel === channel && ephemeral.thread_ts === ts && !state.dismissed.has(ephemeral.ts)) {
        items.push({ message: ephemeral, ephemeral: true });
      }
    }
    items.sort((a, b) => cmpTs(a.message.ts, b.message.ts));
    const entries = [];
    if (parent) {
      const count = replies.length === 1 ? "1 reply" : `${replies.length} replies`;
      entries.push(
        ...timeline([{ message: parent, ephemeral: false, noGroup: true }], channel, { inThread: true, noDays: true }),
        { key: "replies-count", html: `<div class="replies-divider" role="separator"><span>${count}</span></div>` },
      );
    }
    entries.push(...timeline(items, channel, { inThread: true, noDays: true }));
    keepingScroll(container, forceBottom || state.stickThread, () => reconcile(container, entries));
    state.stickThread = false;
  }

  function renderModal() {
    const backdrop = $("modal");
    if (state.file) {
      backdrop.hidden = false;
      backdrop.innerHTML = `<div class="modal modal-wide" role="dialog" aria-modal="true" aria-label="${esc(state.file.name)}"><div class="modal-header"><div class="modal-title">${esc(state.file.name)}</div><button type="button" class="icon-button" data-close-file aria-label="Close">×</button></div><div class="modal-body"><pre class="pre file-content">${esc(state.file.content)}</pre></div></div>`;
      return;
    }
    const open = state.views.filter(
      (entry) => entry.open && entry.view.type === "modal" && !state.closedViews.has(entry.view.id),
    );
    const top = open[open.length - 1];
    if (!top) {
      backdrop.hidden = true;
      backdrop.innerHTML = "";
      return;
    }
    const view = top.view;
    const typed = readInputs(backdrop.querySelector(`[data-view="${CSS.escape(view.id)}"]`));
    const errors = top.errors || {};
    const general = errors[""] ? `<div class="input-error modal-error">${esc(errors[""])}</div>` : "";
    const html = `<div class="modal" role="dialog" aria-modal="true" data-view="${esc(view.id)}"><div class="modal-header"><div class="modal-title">${Blocks.plainText(view.title)}</div><button type="button" class="icon-button" data-close-view aria-label="Close">×</button></div><div class="modal-body">${general}${Blocks.blocks(view.blocks, textContext(), {}, { errors })}</div><div class="modal-footer"><button type="button" class="btn" data-close-view>${view.close ? Blocks.plainText(view.close) : "Cancel"}</button>${view.submit ? `<button type="button" class="btn btn-primary" data-submit-view>${Blocks.plainText(view.submit)}</button>` : ""}</div></div>`;
    if (renderedHtml.get(backdrop) === html && !backdrop.hidden) return;
    backdrop.innerHTML = html;
    renderedHtml.set(backdrop, html);
    backdrop.hidden = false;
    for (const [key, value] of Object.entries(typed)) {
      const [blockId, actionId] = key.split("\u0000");
      const input = backdrop.querySelector(
        `[data-block-id="${CSS.escape(blockId)}"] [data-input][data-action-id="${CSS.escape(actionId)}"]`,
      );
      if (input && input.type !== "radio") input.value = value;
    }
  }

  function readInputs(root) {
    const values = {};
    if (!root) return values;
    for (const input of root.querySelectorAll(".block-input [data-input]")) {
      const blockId = input.closest(".block-input").dataset.blockId;
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) continue;
      values[`${blockId}\u0000${input.dataset.actionId}`] = input.value;
    }
    return values;
  }

  function renderAll() {
    renderHeader();
    renderPicker();
    renderSidebar();
    renderChannel();
    renderThread();
    renderModal();
  }

  // ------------------------------------------------------------------ loading
  function applyDirectory(dir) {
    state.dir = dir;
    state.users = new Map(dir.users.map((user) => [user.id, user]));
    state.channels = new Map(dir.channels.map((channel) => [channel.id, channel]));
    state.groups = new Map(dir.usergroups.map((group) => [group.id, group]));
    const everyone = people();
    if (!state.me || !everyone.some((user) => user.id === state.me)) {
      const wanted = new URLSearchParams(location.search).get("as") || localStorage.getItem(storageKey("me"));
      state.me = (everyone.find((user) => user.id === wanted) || everyone[0] || { id: null }).id;
    }
    if (state.current === DM_PENDING && myDm()) state.current = myDm().id;
    if (!state.current || (!state.channels.has(state.current) && state.current !== DM_PENDING)) {
      const [wanted] = location.hash.replace(/^#/, "").split("/");
      const channels = [...state.channels.values()].filter((channel) => !channel.is_im);
      channels.sort((a, b) => a.name.localeCompare(b.name));
      const chosen = state.channels.get(wanted) || channels[0];
      state.current = chosen ? chosen.id : null;
    }
  }

  const storageKey = (name) => `slack-sandbox.${state.dir ? state.dir.team.id : ""}.${name}`;

  const loadDirectory = coalesced(async () => {
    const before = state.current;
    applyDirectory(await get("directory"));
    renderHeader();
    renderPicker();
    renderSidebar();
    if (state.current !== before) await loadChannel();
    else renderChannel();
  });

  const loadChannel = coalesced(async () => {
    const channelId = state.current;
    let messages = [];
    if (channelId && channelId !== DM_PENDING) {
      try {
        messages = await get(`channels/${enc(channelId)}/messages`);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) throw error;
      }
    }
    if (channelId !== state.current) return; // switched meanwhile: the next run loads the new one
    state.messages = messages;
    renderChannel();
  });

  const loadThread = coalesced(async () => {
    const thread = state.thread;
    if (!thread) return renderThread();
    let messages = [];
    let missing = false;
    try {
      messages = await get(`channels/${enc(thread.channel)}/threads/${enc(thread.ts)}`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
      missing = true;
    }
    if (thread !== state.thread) return;
    state.threadMessages = messages;
    state.threadMissing = missing;
    renderThread();
  });

  const loadEphemerals = coalesced(async () => {
    const me = state.me;
    const list = me ? await get(`ephemerals?user=${enc(me)}`) : [];
    if (me !== state.me) return;
    state.ephemerals = list;
    renderChannel();
    renderThread();
  });

  const loadViews = coalesced(async () => {
    const me = state.me;
    const list = me ? await get(`views?user=${enc(me)}`) : [];
    if (me !== state.me) return;
    state.views = list;
    renderModal();
  });

  async function loadAll() {
    await loadDirectory();
    await Promise.all([loadChannel(), loadThread(), loadEphemerals(), loadViews()]);
  }

  // ------------------------------------------------------------------ live events
  function onEvent(event) {
    switch (event.type) {
      case "hello":
      case "resync":
        loadAll();
        break;
      case "message":
      case "reaction": {
        const here = event.channel === state.current;
        if (here) loadChannel();
        else if (event.type === "message" && event.action === "posted" && !event.thread_ts) {
          const dm = state.channels.get(event.channel);
          if (!dm || !dm.is_im || dm.user === state.me) {
            state.unread.add(event.channel);
            renderSidebar();
          }
        }
        const thread = state.thread;
        if (thread && event.channel === thread.channel && (event.thread_ts === thread.ts || event.ts === thread.ts)) {
          loadThread();
        }
        break;
      }
      case "ephemeral":
        if (event.user === state.me) loadEphemerals();
        break;
      case "view":
        if (event.user === state.me) loadViews();
        break;
      case "channel":
      case "user":
      case "usergroup":
        loadDirectory();
        break;
      default:
        break;
    }
  }

  function setLive(live, text) {
    $("live").classList.toggle("live-on", live);
    $("live-text").textContent = text || (live ? "live" : "reconnecting…");
  }

  function connect() {
    const source = new EventSource(`${CONTROL}events`);
    source.onopen = () => setLive(true);
    source.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      onEvent(event);
    };
    source.onerror = () => {
      setLive(false);
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, 2000); // the browser gave up (the sandbox answered with an error): try again
      }
    };
  }

  // ------------------------------------------------------------------ navigation
  function remember() {
    const params = new URLSearchParams(location.search);
    if (state.me) params.set("as", state.me);
    const hash = state.current && state.current !== DM_PENDING ? `#${state.current}${state.thread ? `/${state.thread.ts}` : ""}` : "";
    history.replaceState(null, "", `${location.pathname}?${params}${hash}`);
    if (state.me) localStorage.setItem(storageKey("me"), state.me);
  }

  function openChannel(channelId) {
    if (state.current !== channelId) {
      state.current = channelId;
      state.messages = [];
      if (state.thread && state.thread.channel !== channelId) closeThread();
    }
    state.unread.delete(channelId);
    remember();
    renderSidebar();
    renderChannel({ forceBottom: true });
    state.stickChannel = true;
    loadChannel();
    $("composer-input").focus();
  }

  function openThread(channelId, ts) {
    state.thread = { channel: channelId, ts };
    state.threadMessages = [];
    state.threadMissing = false;
    reconcile($("thread-messages"), []);
    remember();
    renderThread();
    state.stickThread = true;
    loadThread();
    $("thread-input").focus();
  }

  function closeThread() {
    state.thread = null;
    state.threadMessages = [];
    remember();
    renderThread();
  }

  function setMe(userId) {
    if (userId === state.me) return;
    state.me = userId;
    state.dismissed.clear();
    state.closedViews.clear();
    state.ephemerals = [];
    state.views = [];
    if (isDm(state.current)) {
      const dm = myDm();
      state.current = dm ? dm.id : DM_PENDING;
      closeThread();
    }
    remember();
    renderAll();
    loadChannel();
    loadEphemerals();
    loadViews();
  }

  // ------------------------------------------------------------------ what the person does
  function toast(text) {
    const node = document.createElement("div");
    node.className = "toast";
    node.textContent = text;
    $("toasts").append(node);
    setTimeout(() => node.remove(), 6000);
  }

  // Turn what a person typed into Slack's message text: &, <, > escaped, @name and #channel linked.
  function slackText(typed) {
    let text = typed.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const byName = new Map();
    for (const user of state.users.values()) {
      if (user.id !== bot().user_id) byName.set(displayName(user).toLowerCase(), user.id);
    }
    text = text.replace(/(^|[\s(])@([\w.-]+)/g, (whole, lead, name) => {
      const id = byName.get(name.toLowerCase());
      return id ? `${lead}<@${id}>` : whole;
    });
    text = text.replace(/(^|[\s(])#([\w-]+)/g, (whole, lead, name) => {
      const channel = [...state.channels.values()].find((c) => !c.is_im && c.name === name);
      return channel ? `${lead}<#${channel.id}|${channel.name}>` : whole;
    });
    return text;
  }

  function botMention() {
    const names = [bot().name, "bot", "app"];
    const user = state.users.get(bot().user_id);
    if (user && user.real_name) names.push(user.real_name.replace(/\s+/g, ""));
    const alternatives = names.filter(Boolean).map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    return new RegExp(`(^|\\s)@(${alternatives.join("|")})(?![\\w.-])`, "i");
  }

  async function send(typed, { channelId, threadTs = null }) {
    const text = typed.trim();
    if (!text || !state.me) return;
    const user = state.me;
    if (text.startsWith("/")) {
      const match = /^(\/\S+)\s*([\s\S]*)$/.exec(text);
      // a DM not opened yet: the user's id names it (the sandbox opens it)
      const channel = channelId === DM_PENDING ? user : channelId;
      await post("act/command", { user, channel, command: match[1], text: match[2] });
      return;
    }
    if (isDm(channelId)) {
      await post("act/dm", { user, text: slackText(text) });
      state.stickChannel = true;
      return;
    }
    const mention = botMention();
    if (mention.test(text)) {
      const rest = text.replace(mention, "$1").replace(/\s{2,}/g, " ").trim();
      await post("act/mention", { user, channel: channelId, text: slackText(rest), thread_ts: threadTs });
    } else {
      await post("act/message", { user, channel: channelId, text: slackText(text), thread_ts: threadTs });
    }
    if (threadTs) state.stickThread = true;
    else state.stickChannel = true;
  }

  function wireComposer(form, input, target) {
    const grow = () => {
      input.style.height = "auto";
      input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    };
    input.addEventListener("input", grow);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const typed = input.value;
      if (!typed.trim()) return;
      input.value = "";
      grow();
      try {
        await send(typed, target());
      } catch (error) {
        input.value = typed;
        grow();
        toast(`Not sent: ${error.error || error.message}`);
      }
    });
  }

  async function click(element, value) {
    const body = {
      user: state.me,
      channel: element.dataset.channel,
      ts: element.dataset.ts,
      action_id: element.dataset.actionId,
    };
    if (value !== undefined) body.value = value;
    else if (element.dataset.value !== undefined) body.value = element.dataset.value;
    element.classList.add("busy");
    try {
      await post("act/click", body);
    } catch (error) {
      toast(error.error === "action_not_found" ? "That button is gone: the message changed." : `Click failed: ${error.error || error.message}`);
    } finally {
      setTimeout(() => element.classList.remove("busy"), 400);
    }
  }

  async function submitView(viewId) {
    const modal = $("modal").querySelector(`[data-view="${CSS.escape(viewId)}"]`);
    const values = {};
    for (const [key, value] of Object.entries(readInputs(modal))) {
      const [blockId, actionId] = key.split("\u0000");
      (values[blockId] = values[blockId] || {})[actionId] = value;
    }
    try {
      await post("act/submit", { user: state.me, view_id: viewId, values });
    } catch (error) {
      toast(`Not submitted: ${error.error || error.message}`);
    }
  }

  async function showFile(fileId) {
    try {
      const file = await get(`files/${enc(fileId)}`);
      state.file = { name: file.title || file.name, content: file.content };
    } catch (error) {
      toast(`No such file: ${error.error || error.message}`);
      return;
    }
    renderModal();
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest(
      "[data-click],[data-thread],[data-open-channel],[data-open-dm],.channel-link,[data-dismiss],[data-file],[data-close-view],[data-submit-view],[data-close-file]",
    );
    if (!target) return;
    if (target.matches("[data-click]")) {
      if (target.tagName !== "A") event.preventDefault(); // a link button opens its URL as well
      if (!target.classList.contains("busy")) click(target);
    } else if (target.matches("[data-thread]")) {
      const channelId = target.closest("#thread-pane") ? state.thread.channel : state.current;
      if (channelId !== DM_PENDING) openThread(channelId, target.dataset.thread);
    } else if (target.matches("[data-open-channel]")) {
      openChannel(target.dataset.openChannel);
    } else if (target.matches("[data-open-dm]")) {
      const dm = myDm();
      openChannel(dm ? dm.id : DM_PENDING);
    } else if (target.matches(".channel-link")) {
      if (state.channels.has(target.dataset.channel)) openChannel(target.dataset.channel);
    } else if (target.matches("[data-dismiss]")) {
      state.dismissed.add(target.dataset.dismiss);
      renderChannel();
      renderThread();
    } else if (target.matches("[data-file]")) {
      showFile(target.dataset.file);
    } else if (target.matches("[data-close-view]")) {
      state.closedViews.add(target.closest("[data-view]").dataset.view);
      renderModal();
    } else if (target.matches("[data-submit-view]")) {
      submitView(target.closest("[data-view]").dataset.view);
    } else if (target.matches("[data-close-file]")) {
      state.file = null;
      renderModal();
    }
  });

  document.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-select]");
    if (!select || !select.value) return;
    click(select, select.value);
    if (select.classList.contains("select-overflow")) select.selectedIndex = 0;
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (state.file) {
        state.file = null;
        renderModal();
      } else if (!$("modal").hidden) {
        const view = $("modal").querySelector("[data-view]");
        if (view) state.closedViews.add(view.dataset.view);
        renderModal();
      } else if (state.thread) {
        closeThread();
      }
    } else if (event.key === "Enter" && event.target.matches(".channel-link")) {
      event.target.click();
    }
  });

  $("me-picker").addEventListener("change", (event) => setMe(event.target.value));
  $("thread-close").addEventListener("click", closeThread);
  wireComposer($("composer"), $("composer-input"), () => ({ channelId: state.current }));
  wireComposer($("thread-composer"), $("thread-input"), () => ({
    channelId: state.thread.channel,
    threadTs: state.thread.ts,
  }));

  // ------------------------------------------------------------------ start
  async function start() {
    const [, threadTs] = location.hash.replace(/^#/, "").split("/");
    await loadDirectory();
    remember();
    renderAll();
    await Promise.all([loadChannel(), loadEphemerals(), loadViews()]);
    if (threadTs && state.current && state.current !== DM_PENDING) openThread(state.current, threadTs);
    connect();
  }

  start().catch((error) => {
    setLive(false, "sandbox not reachable");
    toast(`Could not load the workspace: ${error.message}`);
  });
})();
