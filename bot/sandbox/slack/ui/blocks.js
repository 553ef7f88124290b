// Block Kit as HTML, drawn the way Slack draws it: section (text, fields, accessory), context,
// divider, header, actions (buttons with primary/danger styles, selects, overflow), image,
// rich_text, input (in modals), and legacy attachments and file cards. Interactive elements carry
// data-* attributes (action id, value, channel, ts) that app.js turns into a real click through the
// control API. All text goes through SlackText, which escapes it first.
"use strict";
(() => {
  const { esc, plain, mrkdwn } = window.SlackText;

  // A text object: {type: "mrkdwn"|"plain_text", text, emoji, verbatim}.
  function textObject(object, ctx) {
    if (!object) return "";
    if (typeof object === "string") return mrkdwn(object, ctx);
    if (object.type === "plain_text") return plain(object.text, object.emoji !== false);
    return mrkdwn(object.text, ctx);
  }

  function plainText(object) {
    if (!object) return "";
    return plain(typeof object === "string" ? object : object.text, object.emoji !== false);
  }

  // where: {channel, ts} of the message holding the element, or {view: id} in a modal.
  function actionData(element, where) {
    const attrs = [
      `data-action-id="${esc(element.action_id || "")}"`,
      `data-block-id="${esc(where.blockId || "")}"`,
    ];
    if (element.value !== undefined) attrs.push(`data-value="${esc(element.value)}"`);
    if (where.channel) attrs.push(`data-channel="${esc(where.channel)}"`, `data-ts="${esc(where.ts)}"`);
    return attrs.join(" ");
  }

  function button(element, where) {
    const style = element.style === "primary" ? " btn-primary" : element.style === "danger" ? " btn-danger" : "";
    const label = plainText(element.text);
    if (!where.channel) {
      return `<button type="button" class="btn${style}" disabled title="Only message buttons are clickable here">${label}</button>`;
    }
    if (element.url) {
      // Slack opens the link and still tells the app about the click.
      return `<a class="btn${style}" href="${esc(element.url)}" target="_blank" rel="noopener noreferrer" data-click ${actionData(element, where)}>${label}<span class="btn-external" aria-hidden="true">↗</span></a>`;
    }
    return `<button type="button" class="btn${style}" data-click ${actionData(element, where)}>${label}</button>`;
  }

  function options(element, chosen) {
    const one = (option) =>
      `<option value="${esc(option.value)}"${option.value === chosen ? " selected" : ""}>${plainText(option.text)}</option>`;
    let html = (element.options || []).map(one).join("");
    for (const group of element.option_groups || []) {
      html += `<optgroup label="${esc(group.label ? group.label.text : "")}">${(group.options || []).map(one).join("")}</optgroup>`;
    }
    return html;
  }

  // A select in a message sends a click with the chosen value (static_select, overflow); in a
  // modal it is an input read on submit. Selects fed from elsewhere (users, channels) are shown only.
  function select(element, where, { inModal = false } = {}) {
    const overflow = element.type === "overflow";
    const placeholder = overflow ? "⋯" : element.placeholder ? plainText(element.placeholder) : "Select an item";
    const chosen = element.initial_option ? element.initial_option.value : undefined;
    let wiring = "disabled";
    if (inModal) wiring = `data-input data-action-id="${esc(element.action_id || "")}"`;
    else if (where.channel && ["static_select", "overflow"].includes(element.type)) wiring = `data-select ${actionData(element, where)}`;
    const first = `<option value="" disabled${chosen === undefined ? " selected" : ""}>${placeholder}</option>`;
    return `<select class="select${overflow ? " select-overflow" : ""}" ${wiring} aria-label="${overflow ? "More actions" : esc(placeholder)}">${first}${options(element, chosen)}</select>`;
  }

  function element(item, where, ctx, opts = {}) {
    switch (item.type) {
      case "button":
        return button(item, where);
      case "static_select":
      case "overflow":
      case "external_select":
      case "users_select":
      case "conversations_select":
      case "channels_select":
        return select(item, where, opts);
      case "image":
        return `<img class="block-image-element" src="${esc(item.image_url)}" alt="${esc(item.alt_text || "")}" title="${esc(item.alt_text || "")}" loading="lazy" referrerpolicy="no-referrer">`;
      case "datepicker":
        return `<input class="input" type="date" value="${esc(item.initial_date || "")}" ${opts.inModal ? `data-input data-action-id="${esc(item.action_id || "")}"` : "disabled"}>`;
      case "timepicker":
        return `<input class="input" type="time" value="${esc(item.initial_time || "")}" ${opts.inModal ? `data-input data-action-id="${esc(item.action_id || "")}"` : "disabled"}>`;
      case "plain_text_input": {
        const attrs = `class="input" data-input data-action-id="${esc(item.action_id || "")}" placeholder="${item.placeholder ? esc(item.placeholder.text) : ""}"`;
        const initial = esc(item.initial_value || "");
        return item.multiline ? `<textarea ${attrs} rows="4">${initial}</textarea>` : `<input type="text" ${attrs} value="${initial}">`;
      }
      case "checkboxes":
      case "radio_buttons": {
        const kind = item.type === "checkboxes" ? "checkbox" : "radio";
        const name = `${where.blockId || ""}.${item.action_id || ""}`;
        return (item.options || [])
          .map(
            (option) =>
              `<label class="choice"><input type="${kind}" name="${esc(name)}" value="${esc(option.value)}" ${opts.inModal ? `data-input data-action-id="${esc(item.action_id || "")}"` : "disabled"}> ${textObject(option.text, ctx)}</label>`,
          )
          .join("");
      }
      default:
        return `<span class="unsupported">[${esc(item.type || "element")}]</span>`;
    }
  }

  // ------------------------------------------------------------------ rich_text (what people type)
  function richElements(elements, ctx) {
    return (elements || [])
      .map((item) => {
        let html;
        switch (item.type) {
          case "text":
            html = esc(item.text).replace(/\n/g, "<br>");
            break;
          case "link":
            html = `<a href="${esc(item.url)}" target="_blank" rel="noopener noreferrer">${esc(item.text || item.url)}</a>`;
            break;
          case "user":
            html = mrkdwn(`<@${item.user_id}>`, ctx);
            break;
          case "channel":
            html = mrkdwn(`<#${item.channel_id}>`, ctx);
            break;
          case "usergroup":
            html = mrkdwn(`<!subteam^${item.usergroup_id}>`, ctx);
            break;
          case "broadcast":
            html = mrkdwn(`<!${item.range}>`, ctx);
            break;
          case "emoji":
            html = plain(`:${item.name}:`);
            break;
          case "date":
            html = mrkdwn(`<!date^${item.timestamp}^${item.format}|${item.fallback || ""}>`, ctx);
            break;
          default:
            html = "";
        }
        const style = item.style || {};
        if (style.code) html = `<code>${html}</code>`;
        if (style.bold) html = `<b>${html}</b>`;
        if (style.italic) html = `<i>${html}</i>`;
        if (style.strike) html = `<s>${html}</s>`;
        return html;
      })
      .join("");
  }

  function richText(block, ctx) {
    return (block.elements || [])
      .map((part) => {
        switch (part.type) {
          case "rich_text_section":
            return `<div>${richElements(part.elements, ctx)}</div>`;
          case "rich_text_preformatted":
            return `<pre class="pre">${richElements(part.elements, ctx)}</pre>`;
          case "rich_text_quote":
            return `<blockquote>${richElements(part.elements, ctx)}</blockquote>`;
          case "rich_text_list": {
            const tag = part.style === "ordered" ? "ol" : "ul";
            const items = (part.elements || []).map((item) => `<li>${richElements(item.elements, ctx)}</li>`).join("");
            return `<${tag} class="rich-list" style="margin-left:${(part.indent || 0) * 20}px">${items}</${tag}>`;
          }
          default:
            return "";
        }
      })
      .join("");
  }

  // ------------------------------------------------------------------ blocks
  function block(item, ctx, where, opts) {
    const at = { ...where, blockId: item.block_id || "" };
    switch (item.type) {
      case "section": {
        const text = item.text ? `<div class="section-text">${textObject(item.text, ctx)}</div>` : "";
        const fields = item.fields
          ? `<div class="section-fields">${item.fields.map((field) => `<div class="section-field">${textObject(field, ctx)}</div>`).join("")}</div>`
          : "";
        const accessory = item.accessory
          ? `<div class="section-accessory">${item.accessory.type === "image" ? `<img class="section-image" src="${esc(item.accessory.image_url)}" alt="${esc(item.accessory.alt_text || "")}" referrerpolicy="no-referrer">` : element(item.accessory, at, ctx, opts)}</div>`
          : "";
        return `<div class="block block-section"><div class="section-main">${text}${fields}</div>${accessory}</div>`;
      }
      case "context":
        return `<div class="block block-context">${(item.elements || [])
          .map((part) =>
            part.type === "image"
              ? `<img class="context-image" src="${esc(part.image_url)}" alt="${esc(part.alt_text || "")}" title="${esc(part.alt_text || "")}" referrerpolicy="no-referrer">`
              : `<span class="context-text">${textObject(part, ctx)}</span>`,
          )
          .join("")}</div>`;
      case "divider":
        return `<hr class="block block-divider">`;
      case "header":
        return `<div class="block block-header">${plainText(item.text)}</div>`;
      case "actions":
        return `<div class="block block-actions">${(item.elements || []).map((part) => element(part, at, ctx, opts)).join("")}</div>`;
      case "image": {
        const title = item.title ? `<div class="image-title">${plainText(item.title)}</div>` : "";
        return `<div class="block block-image">${title}<img src="${esc(item.image_url)}" alt="${esc(item.alt_text || "")}" loading="lazy" referrerpolicy="no-referrer"></div>`;
      }
      case "rich_text":
        return `<div class="block block-rich">${richText(item, ctx)}</div>`;
      case "input": {
        const error = opts.errors && opts.errors[item.block_id] ? `<div class="input-error">${esc(opts.errors[item.block_id])}</div>` : "";
        const hint = item.hint ? `<div class="input-hint">${plainText(item.hint)}</div>` : "";
        const optional = item.optional ? ` <span class="input-optional">(optional)</span>` : "";
        return `<div class="block block-input" data-block-id="${esc(item.block_id || "")}"><label class="input-label">${plainText(item.label)}${optional}</label>${element(item.element || {}, at, ctx, { ...opts, inModal: true })}${hint}${error}</div>`;
      }
      default:
        return `<div class="block unsupported">[unsupported block: ${esc(item.type)}]</div>`;
    }
  }

  function blocks(list, ctx, where = {}, opts = {}) {
    return (list || []).map((item) => block(item, ctx, where, opts)).join("");
  }

  // Legacy attachments: a coloured bar with pretext, title, text and fields.
  function attachments(list, ctx) {
    return (list || [])
      .map((item) => {
        const colour = /^#?[0-9a-f]{3,8}$/i.test(item.color || "")
          ? (item.color.startsWith("#") ? item.color : `#${item.color}`)
          : { good: "#2eb67d", warning: "#ecb22e", danger: "#e01e5a" }[item.color] || "#dddddd";
        const title = item.title
          ? `<div class="attachment-title">${item.title_link ? `<a href="${esc(item.title_link)}" target="_blank" rel="noopener noreferrer">${esc(item.title)}</a>` : esc(item.title)}</div>`
          : "";
        const fields = (item.fields || [])
          .map((field) => `<div class="section-field${field.short ? "" : " wide"}"><b>${esc(field.title || "")}</b><br>${mrkdwn(field.value || "", ctx)}</div>`)
          .join("");
        const inner = blocks(item.blocks, ctx);
        return `${item.pretext ? `<div>${mrkdwn(item.pretext, ctx)}</div>` : ""}<div class="attachment" style="--bar:${esc(colour)}">${title}${item.text ? `<div>${mrkdwn(item.text, ctx)}</div>` : ""}${fields ? `<div class="section-fields">${fields}</div>` : ""}${inner}${item.footer ? `<div class="block-context">${mrkdwn(item.footer, ctx)}</div>` : ""}</div>`;
      })
      .join("");
  }

  function files(list) {
    return (list || [])
      .map(
        (file) =>
          `<button type="button" class="file-card" data-file="${esc(file.id)}" title="Show the file"><span class="file-icon" aria-hidden="true">📄</span><span><span class="file-name">${esc(file.title || file.name)}</span><span class="file-meta">${esc(file.name)} · ${esc(String(file.size ?? ""))} bytes</span></span></button>`,
      )
      .join("");
  }

  window.SlackBlocks = Object.freeze({ blocks, attachments, files, textObject, plainText });
})();
