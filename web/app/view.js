// DOM helpers and formatting for the Chinwag web app. Text always goes in through textContent:
// message bodies never become markup.

/**
 * Create an element. `attrs` keys starting with `on` add listeners; `class`, `hidden`, `aria-*`,
 * `data-*` and other attributes are set as attributes.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

/** A display name for a user id (demo users are lower-case names). @param {string} id */
export function displayName(id) {
  return id ? id.charAt(0).toUpperCase() + id.slice(1) : '?';
}

/** Up to two initials. @param {string} name */
export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '?';
  const first = words[0][0] ?? '';
  const second = words.length > 1 ? words[words.length - 1][0] : '';
  return (first + second).toUpperCase();
}

/** A stable hue for a name, so an avatar keeps its colour. @param {string} name */
export function hue(name) {
  let x = 0;
  for (const ch of name) x = (x * 31 + (ch.codePointAt(0) ?? 0)) % 360;
  return x;
}

/** Fill an avatar element. @param {HTMLElement} el @param {string} name */
export function paintAvatar(el, name) {
  el.textContent = initials(name);
  el.dataset.hue = String(hue(name));
  el.style.setProperty('--hue', String(hue(name)));
}

/** @param {number} ms */
export function timeOf(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "Today", "Yesterday" or the date. @param {number} ms @param {number} [now] */
export function dayLabel(ms, now = Date.now()) {
  const d = new Date(ms);
  const today = new Date(now);
  const start = (/** @type {Date} */ x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((start(today) - start(d)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
}

/** Short time for the conversation list: time today, else the date. @param {number} ms */
export function listTime(ms) {
  return dayLabel(ms) === 'Today' ? timeOf(ms) : new Date(ms).toLocaleDateString([], { month: 'short', day: 'numeric' });
}

/** Marks for the sender's view of a message state. */
export const STATE_MARKS = /** @type {Record<string, {mark: string, label: string}>} */ ({
  sending: { mark: '\u2026', label: 'Sending' },
  sent: { mark: '\u2713', label: 'Sent' },
  delivered: { mark: '\u2713\u2713', label: 'Delivered' },
  read: { mark: '\u2713\u2713', label: 'Read' },
  failed: { mark: '!', label: 'Not sent' },
});
