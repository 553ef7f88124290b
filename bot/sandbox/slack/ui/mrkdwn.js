// Slack's text formats as HTML: mrkdwn (*bold*, _italic_, ~strike~, `code`, ```pre```, > quotes,
// <links|text>, <@U..> mentions, <#C..> channels, <!here>, <!subteam^..>, <!date^..> in the
// viewer's own time zone, :emoji:) and plain_text. Everything that came from the message is
// HTML-escaped before any markup is added, so a message can never inject HTML into the page.
// Used by blocks.js and app.js through window.SlackText.
"use strict";
(() => {
  const EMOJI = window.SLACK_EMOJI || {};
  const SLOT_OPEN = "\uE000";
  const SLOT_CLOSE = "\uE001";
  const SLOT = /\uE000(\d+)\uE001/g;
  const LINK_SCHEMES = /^(https?:\/\/|mailto:|slack:\/\/)/i;

  function esc(text) {
    return String(text ?? "")
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  // Slack escapes its three control characters in message text; show them as typed.
  function unslack(text) {
    return String(text ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function emojify(html) {
    return html.replace(/:([a-z0-9_+'-]+):(?::skin-tone-[2-6]:)?/g, (whole, name) => {
      const picture = EMOJI[name];
      return picture ? `<span class="emoji" title=":${name}:">${picture}</span>` : whole;
    });
  }

  // plain_text objects: escaped, with :shortcodes: drawn unless the object says `emoji: false`.
  function plain(text, withEmoji = true) {
    const html = esc(unslack(text));
    return withEmoji ? emojify(html) : html;
  }

  // ------------------------------------------------------------------ dates
  const DAY_MS = 86400000;

  function ordinal(day) {
    const tens = day % 100;
    if (tens >= 11 && tens <= 13) return `${day}th`;
    return `${day}${{ 1: "st", 2: "nd", 3: "rd" }[day % 10] || "th"}`;
  }

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  function relativeDay(date, now) {
    const days = Math.round((startOfDay(date) - startOfDay(now)) / DAY_MS);
    return { "-1": "yesterday", 0: "today", 1: "tomorrow" }[days] || null;
  }

  function ago(date, now) {
    const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
    const units = [
      ["year", 31536000],
      ["month", 2592000],
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
      ["second", 1],
    ];
    const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === "second") {
        return format.format(Math.round(seconds / size), unit);
      }
    }
    return "";
  }

  // Slack's <!date^epoch^format|fallback> tokens, in the viewer's local time zone.
  function formatDate(epoch, template, now = new Date()) {
    const date = new Date(epoch * 1000);
    const month = (style) => date.toLocaleDateString(undefined, { month: style });
    const weekday = date.toLocaleDateString(undefined, { weekday: "long" });
    const year = date.getFullYear();
    const dateWords = `${month("long")} ${ordinal(date.getDate())}, ${year}`;
    const tokens = {
      date_num: `${year}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`,
      date: dateWords,
      date_short: `${month("short")} ${date.getDate()}, ${year}`,
      date_long: `${weekday}, ${dateWords}`,
      time: date.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }),
      time_secs: date.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" }),
      ago: ago(date, now),
    };
    const pretty = relativeDay(date, now);
    tokens.date_pretty = pretty || tokens.date;
    tokens.date_short_pretty = pretty || tokens.date_short;
    tokens.date_long_pretty = pretty || tokens.date_long;
    // ICU puts a narrow no-break space before AM/PM; Slack shows a plain one.
    let text = template
      .replace(/\{(\w+)\}/g, (whole, name) => (name in tokens ? tokens[name] : whole))
      .replace(/\u202f/g, " ");
    if (pretty && text.startsWith(pretty)) text = pretty[0].toUpperCase() + text.slice(1);
    return text;
  }

  function dateEntity(body, fallback, ctx) {
    // body: date^<epoch>^<format>[^<link>]
    const [, epochText, template = "{date_short} {time}", link] = body.split("^");
    const epoch = Number(epochText);
    if (!Number.isFinite(epoch)) return esc(unslack(fallback || body));
    const text = formatDate(epoch, unslack(template), ctx.now || new Date());
    const full = new Date(epoch * 1000).toLocaleString(undefined, { dateStyle: "full", timeStyle: "long" });
    const time = `<time class="date" datetime="${esc(new Date(epoch * 1000).toISOString())}" title="${esc(full)}">${esc(text)}</time>`;
    return link && LINK_SCHEMES.test(link) ? anchor(link, time) : time;
  }

  // ------------------------------------------------------------------ <...> entities
  function anchor(url, innerHtml) {
    return `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${innerHtml}</a>`;
  }

  function entity(inner, ctx) {
    const bar = inner.indexOf("|");
    const body = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? inner.slice(bar + 1) : "";
    if (body.startsWith("@")) {
      const id = body.slice(1);
      const user = ctx.user ? ctx.user(id) : null;
      const name = user ? user.name : label || id;
      const mine = ctx.me && ctx.me === id ? " mention-me" : "";
      return `<span class="mention${mine}" data-user="${esc(id)}">@${esc(unslack(name))}</span>`;
    }
    if (body.startsWith("#")) {
      const id = body.slice(1);
      const channel = ctx.channel ? ctx.channel(id) : null;
      const name = channel ? channel.name : label || id;
      return `<span class="channel-link" data-channel="${esc(id)}" role="link" tabindex="0">#${esc(unslack(name))}</span>`;
    }
    if (body.startsWith("!")) {
      const command = body.slice(1);
      if (["here", "channel", "everyone"].includes(command.split("^")[0])) {
        const word = command.split("^")[0];
        return `<span class="mention mention-broadcast">@${esc(word)}</span>`;
      }
      if (command.startsWith("subteam^")) {
        const id = command.split("^")[1];
        const group = ctx.group ? ctx.group(id) : null;
        const handle = group ? `@${group.handle}` : label || `@${id}`;
        return `<span class="mention mention-group">${esc(unslack(handle))}</span>`;
      }
      if (command.startsWith("date^")) return dateEntity(command, label, ctx);
      return esc(unslack(label || inner));
    }
    if (LINK_SCHEMES.test(body)) {
      const text = label || body.replace(/^mailto:/i, "");
      return anchor(unslack(body), esc(unslack(text)));
    }
    return esc(unslack(`<${inner}>`));
  }

  function entitiesOnly(text, ctx) {
    let out = "";
    let last = 0;
    for (const match of text.matchAll(/<([^<>\n]+)>/g)) {
      out += esc(unslack(text.slice(last, match.index))) + entity(match[1], ctx);
      last = match.index + match[0].length;
    }
    return out + esc(unslack(text.slice(last)));
  }

  // ------------------------------------------------------------------ mrkdwn
  const BEFORE = `(^|[\\s([{"'\u201C\u2018>;${SLOT_CLOSE}~_*-])`;
  const AFTER = `(?=$|[\\s).,;:!?\\]}"'\u201D\u2019<${SLOT_OPEN}~_*-])`;

  function styled(html, mark, tag) {
    const m = mark === "*" ? "\\*" : mark;
    const pattern = new RegExp(`${BEFORE}${m}(?!\\s)([^${m}\\n]*?[^\\s${m}]|[^\\s${m}])${m}${AFTER}`, "gm");
    return html.replace(pattern, (whole, lead, body) => `${lead}<${tag}>${body}</${tag}>`);
  }

  // Lines starting with ">" are one quote; a line starting with ">>>" quotes the rest of the text.
  function quotes(html) {
    const parts = [];
    let rest = false;
    for (const line of html.split("\n")) {
      let quote = rest;
      let body = line;
      if (!rest && line.startsWith("&gt;&gt;&gt;")) {
        rest = quote = true;
        body = line.slice(12).replace(/^ /, "");
      } else if (!rest && line.startsWith("&gt;")) {
        quote = true;
        body = line.slice(4).replace(/^ /, "");
      }
      const last = parts[parts.length - 1];
      if (last && last.quote === quote) last.lines.push(body);
      else parts.push({ quote, lines: [body] });
    }
    return parts
      .map((part) => (part.quote ? `<blockquote>${part.lines.join("<br>")}</blockquote>` : part.lines.join("<br>")))
      .join("");
  }

  // ctx: {user(id) -> {name}, channel(id) -> {name}, group(id) -> {handle}, me, now}
  function mrkdwn(text, ctx = {}) {
    const slots = [];
    const hold = (html) => `${SLOT_OPEN}${slots.push(html) - 1}${SLOT_CLOSE}`;
    let source = String(text ?? "").replace(/[\uE000\uE001]/g, "");
    // A preformatted block stands on its own line, so a quote may start right after it.
    source = source.replace(/\n?```([\s\S]*?)```\n?/g, (whole, body) =>
      `\n${hold(`<pre class="pre">${entitiesOnly(body.replace(/^\n/, "").replace(/\n$/, ""), ctx)}</pre>`)}\n`,
    );
    source = source.replace(/`([^`\n]+)`/g, (whole, body) => hold(`<code>${entitiesOnly(body, ctx)}</code>`));
    source = source.replace(/<([^<>\n]+)>/g, (whole, inner) => hold(entity(inner, ctx)));
    let html = esc(unslack(source));
    html = styled(html, "~", "s");
    html = styled(html, "*", "b");
    html = styled(html, "_", "i");
    html = emojify(html);
    html = quotes(html);
    // A block (pre, quote) breaks the line itself: no extra empty line around it.
    html = html.replace(new RegExp(`(?:<br>)?(${SLOT_OPEN}\\d+${SLOT_CLOSE})(?:<br>)?`, "g"), (whole, slot) =>
      slots[Number(slot.slice(1, -1))].startsWith("<pre") ? slot : whole,
    );
    html = html.replace(/(?:<br>)?(<blockquote>[\s\S]*?<\/blockquote>)(?:<br>)?/g, "$1");
    return html.replace(SLOT, (whole, index) => slots[Number(index)]);
  }

  window.SlackText = Object.freeze({ esc, plain, mrkdwn, emojify, formatDate, unslack });
})();
