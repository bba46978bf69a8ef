// The Chinwag web app: sign in, conversations, a thread. Plain ES modules, no build step; all state
// lives in the SDK client, this file renders it.
import { ChinwagClient, ChinwagError } from '/sdk/chinwag.js';
import { h, displayName, paintAvatar, timeOf, dayLabel, listTime, STATE_MARKS } from '/view.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const USER_KEY = 'chinwag.user';
/** Saved cache and list, per user, so that a reload without network still shows the chats. */
const snapshotKey = (/** @type {string} */ user) => `chinwag.snapshot.${user}`;

/** @type {ChinwagClient | null} */
let client = null;
/** @type {{id: string, name?: string} | null} */
let me = null;
/** @type {string | null} */
let openId = null;
let loadingOlder = false;
/** @type {any} */
let snapshotTimer = null;
let renderQueued = false;
let stickToBottom = true;
/** The connection as last reported: state, quality, latency. */
let status = { state: 'offline', quality: 'offline', latencyMs: /** @type {number | null} */ (null) };

async function boot() {
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js').catch(() => {});
  }
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  $('back').addEventListener('click', () => openConversation(null));
  $('composer').addEventListener('submit', onSend);
  $('input').addEventListener('keydown', onComposerKey);
  $('input').addEventListener('input', () => { if (openId && client) client.typing(openId); });
  $('messages').addEventListener('scroll', onScroll);
  document.addEventListener('visibilitychange', maybeMarkRead);

  const saved = localStorage.getItem(USER_KEY);
  if (saved) {
    start(JSON.parse(saved));
    return;
  }
  // A session cookie from an earlier visit?
  try {
    const res = await fetch('/v1/me', { credentials: 'same-origin' });
    if (res.ok) {
      start(await res.json());
      return;
    }
  } catch {
    // Offline and never signed in: the form it is.
  }
  showLogin();
}

function showLogin(message = '') {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  /** @type {HTMLInputElement} */ ($('login-form').querySelector('input[name=username]')).focus();
}

/** @param {SubmitEvent} ev */
async function onLogin(ev) {
  ev.preventDefault();
  const form = /** @type {HTMLFormElement} */ (ev.target);
  const data = new FormData(form);
  $('login-error').textContent = '';
  try {
    const r = await ChinwagClient.login(location.origin, String(data.get('username')), String(data.get('password')));
    form.reset();
    start(r.user);
  } catch (e) {
    const err = /** @type {ChinwagError} */ (e);
    $('login-error').textContent = err.code === 'unauthenticated' ? 'Wrong username or password.'
      : err.code === 'rate_limited' ? 'Too many attempts; wait a moment.' : `Could not sign in (${err.message}).`;
  }
}

async function onLogout() {
  await fetch('/v1/accounts/logout', { method: 'POST', credentials: 'same-origin' }).catch(() => {});
  if (me) localStorage.removeItem(snapshotKey(me.id));
  localStorage.removeItem(USER_KEY);
  client?.stop();
  client = null;
  me = null;
  openId = null;
  showLogin();
}

/** @param {{id: string, name?: string}} user */
async function start(user) {
  me = user;
  localStorage.setItem(USER_KEY, JSON.stringify(user));
  $('login').hidden = true;
  $('app').hidden = false;
  paintAvatar($('me'), user.name ?? displayName(user.id));
  $('me').title = `Signed in as ${user.name ?? user.id}`;

  // No token: the session cookie set by login authenticates the WebSocket and REST calls.
  const c = new ChinwagClient({ url: location.origin, token: null, name: `chinwag-${user.id}` });
  client = c;
  c.user = user;
  restoreSnapshot(c, user.id);
  c.on('state', (s) => { status = s; renderStatus(); });
  c.on('outbox', () => { renderStatus(); queueRender(); });
  c.on('conversations', () => { queueRender(); saveSnapshotSoon(); });
  c.on('message', (e) => {
    if (e.message.conversation_id === openId) maybeMarkRead();
    queueRender();
    saveSnapshotSoon();
  });
  c.on('messageState', () => queueRender());
  c.on('receipt', () => queueRender());
  c.on('typing', (e) => { if (e.conversation_id === openId) renderTyping(); });
  c.on('unauthenticated', () => {
    // Stop this client (it holds the tabs' leader lock), so the next sign-in starts afresh.
    c.stop();
    if (client === c) client = null;
    localStorage.removeItem(USER_KEY);
    showLogin('Your session ended; sign in again.');
  });
  let listed = false;
  c.on('state', (s) => {
    if (s.state !== 'connected' || listed) return;
    listed = true;
    c.loadConversations().then(() => {
      if (openId) return loadNewest(openId);
      return undefined;
    }).catch(() => { listed = false; });
  });
  c.on('resumed', (r) => { if (r.resynced && openId) loadNewest(openId); });
  await c.start();
  renderStatus();
  const fromAddress = decodeURIComponent(location.hash.slice(1));
  if (fromAddress) openConversation(fromAddress);
  else queueRender();
}

/** @param {ChinwagClient} c @param {string} user */
function restoreSnapshot(c, user) {
  try {
    const raw = localStorage.getItem(snapshotKey(user));
    if (!raw) return;
    const snap = JSON.parse(raw);
    c.cache.import(snap.cache);
    for (const conv of snap.conversations ?? []) c.learnConversation(conv);
  } catch {
    localStorage.removeItem(snapshotKey(user));
  }
}

function saveSnapshotSoon() {
  clearTimeout(snapshotTimer);
  snapshotTimer = setTimeout(() => {
    if (!client || !me) return;
    const snap = { cache: client.cache.export(), conversations: client.conversationList() };
    try {
      localStorage.setItem(snapshotKey(me.id), JSON.stringify(snap));
    } catch {
      // Storage full: the snapshot is only a convenience for offline starts.
    }
  }, 500);
}

// ---- conversations ----

/** @param {import('/sdk/chinwag.js').Conversation} c */
function conversationName(c) {
  if (c.title) return c.title;
  const others = c.members.map((m) => m.user_id).filter((u) => u !== me?.id);
  return others.map(displayName).join(', ') || 'Just you';
}

/** @param {string | null} id */
function openConversation(id) {
  if (client && openId && openId !== id) client.stopTyping(openId);
  openId = id;
  stickToBottom = true;
  // The open conversation is in the address, so a reload comes back to it.
  history.replaceState(null, '', id ? `#${encodeURIComponent(id)}` : location.pathname);
  $('app').classList.toggle('show-thread', !!id);
  $('composer').hidden = !id;
  $('messages').replaceChildren();
  renderTyping();
  queueRender();
  if (id && client) {
    loadNewest(id);
    client.loadConversation(id).catch(() => {});
    /** @type {HTMLElement} */ ($('input')).focus();
  } else {
    const selected = document.querySelector('.conversation[aria-current="true"]');
    if (selected instanceof HTMLElement) selected.focus();
  }
}

/** @param {string} id */
async function loadNewest(id) {
  if (!client || client.state !== 'connected') return;
  await client.loadHistory(id).catch(() => {});
  queueRender();
  maybeMarkRead();
}

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderList();
    renderThread();
  });
}

function renderList() {
  if (!client) return;
  const list = $('conversations');
  const items = client.conversationList().map((c) => {
    const name = conversationName(c);
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    paintAvatar(avatar, name);
    const last = c.last_message;
    const preview = last ? `${last.sender === me?.id ? 'You: ' : (c.kind === 'group' ? `${displayName(last.sender)}: ` : '')}${last.deleted ? 'Message deleted' : last.body}` : 'No messages yet';
    const unread = c.id === openId ? 0 : c.unread;
    return h('li', {},
      h('button', {
        class: 'conversation', type: 'button', 'data-id': c.id,
        'aria-current': c.id === openId ? 'true' : 'false',
        'aria-label': `${name}${unread ? `, ${unread} unread` : ''}`,
        onclick: () => openConversation(c.id),
      },
      avatar,
      h('span', { class: 'conversation-text' },
        h('span', { class: 'conversation-top' },
          h('span', { class: 'conversation-name' }, name),
          h('span', { class: 'conversation-time' }, last ? listTime(last.created_at) : '')),
        h('span', { class: 'conversation-bottom' },
          h('span', { class: 'preview' }, preview),
          unread ? h('span', { class: 'badge', 'aria-hidden': 'true' }, String(unread > 99 ? '99+' : unread)) : null))));
  });
  const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.id : undefined;
  list.replaceChildren(...items);
  if (focused) {
    const again = list.querySelector(`[data-id="${CSS.escape(focused)}"]`);
    if (again instanceof HTMLElement) again.focus();
  }
}

// ---- thread ----

function renderThread() {
  const box = $('messages');
  const title = $('thread-title');
  if (!client || !openId) {
    title.textContent = 'Choose a conversation';
    $('thread-avatar').hidden = true;
    box.replaceChildren(h('p', { class: 'empty' }, 'Pick a conversation on the left to start chatting.'));
    return;
  }
  const c = client.conversations.get(openId);
  const name = c ? conversationName(c) : '';
  title.textContent = name;
  $('thread-avatar').hidden = false;
  paintAvatar($('thread-avatar'), name || '?');
  const atBottom = stickToBottom;
  const before = box.scrollHeight - box.scrollTop;
  /** @type {HTMLElement[]} */
  const rows = [];
  if (client.hasOlder(openId)) rows.push(h('p', { class: 'older' }, loadingOlder ? 'Loading older messages…' : 'Scroll up for older messages'));
  let day = '';
  for (const m of client.thread(openId)) {
    const label = dayLabel(m.created_at);
    if (label !== day) {
      day = label;
      rows.push(h('div', { class: 'divider', role: 'separator' }, label));
    }
    rows.push(bubble(m, c?.kind === 'group'));
  }
  box.replaceChildren(...rows);
  if (atBottom) {
    box.scrollTop = box.scrollHeight;
  } else {
    // Keep what the reader looks at in place when older messages are added above.
    box.scrollTop = box.scrollHeight - before;
  }
}

/** @param {any} m @param {boolean} group */
function bubble(m, group) {
  if (!client) return h('div');
  const own = m.sender === me?.id;
  const state = own ? client.statusOf(m) : null;
  const mark = state ? STATE_MARKS[state] : null;
  const meta = h('span', { class: 'meta' },
    m.edited_at ? 'edited · ' : '',
    timeOf(m.created_at),
    mark ? h('span', { class: `state state-${state}`, title: mark.label, 'aria-label': mark.label }, ` ${mark.mark}`) : null);
  const retry = state === 'failed'
    ? h('button', { class: 'retry', type: 'button', onclick: () => client?.retry(m.client_msg_id) }, 'Retry')
    : null;
  return h('div', {
    class: `bubble ${own ? 'own' : 'other'}${m.pending ? ' pending' : ''}`,
    'data-client-msg-id': m.client_msg_id, 'data-state': state ?? undefined,
  },
  group && !own ? h('span', { class: 'sender' }, displayName(m.sender)) : null,
  h('span', { class: 'body' }, m.deleted ? 'Message deleted' : m.body),
  meta, retry);
}

function renderTyping() {
  const el = $('typing');
  if (!client || !openId) {
    el.textContent = '';
    return;
  }
  const who = client.typingUsers(openId).filter((u) => u !== me?.id).map(displayName);
  el.textContent = who.length === 0 ? '' : who.length === 1 ? `${who[0]} is typing…` : `${who.join(', ')} are typing…`;
}

function onScroll() {
  const box = $('messages');
  stickToBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  if (stickToBottom) maybeMarkRead();
  if (box.scrollTop < 80 && client && openId && client.hasOlder(openId) && !loadingOlder
    && client.state === 'connected') {
    loadingOlder = true;
    const id = openId;
    client.loadHistory(id, { older: true }).catch(() => {}).finally(() => {
      loadingOlder = false;
      if (id === openId) queueRender();
    });
  }
}

/** Mark the open conversation read when its newest messages are on screen. */
function maybeMarkRead() {
  if (!client || !openId || document.visibilityState !== 'visible' || !stickToBottom) return;
  const c = client.conversations.get(openId);
  if (c && c.unread > 0) client.markRead(openId, c.last_seq);
}

/** @param {KeyboardEvent} ev */
function onComposerKey(ev) {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    /** @type {HTMLFormElement} */ ($('composer')).requestSubmit();
  }
}

/** @param {SubmitEvent} ev */
async function onSend(ev) {
  ev.preventDefault();
  const input = /** @type {HTMLTextAreaElement} */ ($('input'));
  const body = input.value.trim();
  if (!body || !client || !openId) return;
  input.value = '';
  stickToBottom = true;
  await client.send(openId, body);
  queueRender();
}

// ---- status ----

function renderStatus() {
  if (!client) return;
  const state = status.state;
  const connected = state === 'connected';
  const latency = status.latencyMs;
  const quality = connected ? status.quality : 'offline';
  const q = $('quality');
  q.dataset.quality = quality;
  q.textContent = connected && latency !== null ? `${quality} · ${Math.round(latency)} ms` : quality;
  q.title = 'Connection quality';
  const queued = client.pendingCount();
  const banner = $('offline-banner');
  banner.hidden = connected;
  if (!connected) {
    const what = state === 'connecting' ? 'Connecting…' : 'Offline.';
    banner.textContent = `${what} ${queued === 0 ? 'Messages you write will be sent when you are back.' : `${queued} message${queued === 1 ? '' : 's'} queued.`}`;
  }
  banner.dataset.queued = String(queued);
}

boot();
