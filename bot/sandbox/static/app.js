// Gridsnap sandbox web chat: plays one emulator user per tab against the real bot.
// Talks only to this origin: /control/* (the emulator's control API) and /sandbox/*.
// Its own words come from the server, translated, in the page's <script id="chrome">.
"use strict";

const $ = (id) => document.getElementById(id);
const CHROME = JSON.parse($("chrome").textContent);
const T = CHROME.strings;
// A language chosen in the URL (or on the switch) goes with every link and request; without
// one, each page follows the browser's Accept-Language, as the server does.
const ASKED_LANG = new URLSearchParams(location.search).has("lang") ? CHROME.locale : null;
const LANG = `lang=${encodeURIComponent(CHROME.locale)}`;
const state = { persona: null, cursor: 0, entries: new Map(), replyKeyboard: null, kbSeq: 0, follow: true };
const NS = "http://www.w3.org/2000/svg";

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  const data = await response.json();
  if (!data.ok) throw new Error(data.description || response.statusText);
  return data.result;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 2500);
}

// A Chinese name shows its last character, as WeChat does; any other name ("骑手1520",
// "Rider 1520") its first letter, never a digit.
function initial(name) {
  return /[\u4e00-\u9fff]$/.test(name) ? name.slice(-1) : name.slice(0, 1).toUpperCase();
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The page's own address with ``params``, keeping a language chosen in the URL.
function pageUrl(params) {
  const query = new URLSearchParams(params);
  if (ASKED_LANG) query.set("lang", ASKED_LANG);
  const text = query.toString();
  return text ? `/?${text}` : "/";
}

// --- persona picker ---------------------------------------------------------------------

function showLanguages() {
  const nav = $("langs");
  for (const language of CHROME.languages) {
    const link = el("a", language.code === CHROME.locale ? "on" : "", language.name);
    link.href = `/?lang=${encodeURIComponent(language.code)}`;
    link.lang = language.code.replace("_", "-");
    link.dataset.lang = language.code;
    if (language.code === CHROME.locale) link.setAttribute("aria-current", "true");
    nav.append(link);
  }
}

async function showPicker() {
  $("picker").hidden = false;
  $("title").textContent = T.page_title;
  showLanguages();
  const list = $("personas");
  const personas = await api("GET", `/sandbox/personas?${LANG}`);
  for (const p of personas) {
    const link = el("a");
    link.href = pageUrl({ as: p.key });
    link.target = "_blank";
    link.dataset.persona = p.key;
    const text = el("div", "persona");
    text.append(el("span", "name", p.name), el("span", "label", p.label));
    link.append(el("div", "avatar", p.key === "new" ? "+" : initial(p.name)), text);
    const item = el("li");
    item.append(link);
    list.append(item);
  }
}

// --- chat ----------------------------------------------------------------------------------

async function openChat(key) {
  let persona;
  if (key === "new") {
    persona = await api("POST", `/sandbox/personas/new?${LANG}`);
    history.replaceState(null, "", pageUrl({ as: persona.key }));
  } else {
    persona = await api("GET", `/sandbox/personas/${encodeURIComponent(key)}?${LANG}`);
  }
  state.persona = persona;
  // A WeChat follower (WeChat or mixed mode): menus are msgmenu items drawn as links, there
  // is no reply keyboard, and a new rider starts by following the account, not with /start.
  const wechat = persona.platform === "wechat";
  document.body.classList.toggle("wechat", wechat);
  document.title = `${persona.name} · ${T.product}`;
  $("title").textContent = T.product;
  $("who").textContent = persona.name;
  $("chat").hidden = false;
  $("chat").addEventListener("scroll", () => { state.follow = nearBottom($("chat")); });
  $("composer").hidden = false;
  wireComposer();
  render();
  if (key === "new" && !wechat && !(await hasHistory(persona.user_id))) await sendText("/start");
  poll();
}

async function hasHistory(uid) {
  const page = await api("GET", `/control/chats/${uid}/messages?since=0&wait=0`);
  return page.messages.length > 0;
}

async function poll() {
  const uid = state.persona.user_id;
  for (;;) {
    try {
      const page = await api("GET", `/control/chats/${uid}/messages?since=${state.cursor}&wait=25`);
      for (const entry of page.messages) state.entries.set(entry.message_id, entry);
      if (page.messages.length) render();
      state.cursor = Math.max(state.cursor, page.cursor);
    } catch (err) {
      await new Promise((resolve) => setTimeout(resolve, 2000)); // server restarting
    }
  }
}

function nearBottom(chat) {
  return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
}

// Follows new messages while the reader is at the bottom. Photos get their height only when
// they load, after the redraw scrolled, so each load scrolls again while following.
function followChat() {
  if (state.follow) $("chat").scrollTop = $("chat").scrollHeight;
}

// What a persona's empty chat says to do first: the page's words, not a bot message.
function emptyHint() {
  const role = state.persona.role;
  const text = role === "new" ? T.empty_new : role === "informant" ? T.empty_rider : T.empty_staff;
  return el("div", "sys empty", text);
}

function render() {
  const chat = $("chat");
  chat.replaceChildren();
  if (!state.entries.size) chat.append(emptyHint());
  const ordered = [...state.entries.values()].sort((a, b) => a.message_id - b.message_id);
  let keyboard = null;
  for (const entry of ordered) {
    if (entry.from_bot && entry.reply_markup) {
      if (entry.reply_markup.keyboard) keyboard = { markup: entry.reply_markup, seq: entry.message_id };
      else if (entry.reply_markup.remove_keyboard) keyboard = null;
    }
    if (!entry.deleted) chat.append(renderEntry(entry));
  }
  // A one-time keyboard hides after a press until the bot sends another one.
  if (!keyboard || keyboard.seq !== state.kbSeq) state.kbUsed = false;
  state.replyKeyboard = keyboard;
  state.kbSeq = keyboard ? keyboard.seq : 0;
  renderReplyKeyboard();
  if (ordered.length < 3) state.follow = true;
  followChat();
}

function renderEntry(entry) {
  const m = entry.message;
  const row = el("div", entry.from_bot ? "msg bot" : "msg me");
  row.dataset.mid = entry.message_id;
  if (entry.via) row.classList.add(`via-${entry.via}`); // WeChat: custom, reply, template, notice
  const name = entry.from_bot ? T.bot_avatar : initial(state.persona.name);
  row.append(el("div", entry.from_bot ? "avatar bot" : "avatar", name));
  const stack = el("div", "stack");
  stack.append(renderBubble(entry, m));
  const inline = m.reply_markup && m.reply_markup.inline_keyboard;
  if (inline && inline.length) stack.append(renderInline(entry, inline));
  row.append(stack);
  return row;
}

function renderBubble(entry, m) {
  const bubble = el("div", "bubble");
  if (entry.file_url && (m.photo || (m.document && /^image\//.test(m.document.mime_type || "")))) {
    bubble.append(photo(entry.message_id, entry.file_url, m.caption || T.photo));
    if (m.caption) bubble.append(el("div", "caption", m.caption));
  } else if (m.document) {
    bubble.textContent = `📄 ${m.document.file_name || T.file}`;
  } else if (m.venue) {
    bubble.className = "bubble place";
    bubble.textContent = `📍 ${m.venue.title}\n${m.venue.address}`;
  } else if (m.location) {
    bubble.className = "bubble place";
    bubble.textContent = `📍 ${m.location.latitude.toFixed(5)}, ${m.location.longitude.toFixed(5)}`;
  } else if (m.contact) {
    bubble.textContent = `👤 ${m.contact.first_name} ${m.contact.phone_number}`;
  } else {
    bubble.textContent = m.text || m.caption || "";
  }
  if (m.edit_date) bubble.append(el("div", "edited", T.edited));
  return bubble;
}

// One <img> per message and file across redraws: a new one is 0 px high until it loads,
// which would shrink the chat and throw the scroll position off on every message.
const photos = new Map();

function photo(messageId, url, alt) {
  const key = `${messageId} ${url}`;
  let img = photos.get(key);
  if (!img) {
    img = el("img");
    img.src = url;
    img.addEventListener("click", () => showImage(url));
    img.addEventListener("load", followChat);
    photos.set(key, img);
  }
  img.alt = alt;
  return img;
}

function renderInline(entry, rows) {
  const box = el("div", "inline");
  for (const buttons of rows) {
    const row = el("div", "row");
    for (const b of buttons) {
      const button = el("button", "", b.text);
      button.type = "button";
      if (b.callback_data) button.dataset.callback = b.callback_data;
      button.addEventListener("click", () => pressInline(entry.message_id, b));
      row.append(button);
    }
    box.append(row);
  }
  return box;
}

async function pressInline(messageId, button) {
  if (button.url) { window.open(button.url, "_blank"); return; }
  try {
    const result = await api("POST", `/sandbox/users/${state.persona.user_id}/press`,
      { message_id: messageId, data: button.callback_data });
    if (result.answer && result.answer.text) toast(result.answer.text);
  } catch (err) { toast(err.message); }
}

function renderReplyKeyboard() {
  const box = $("replykb");
  box.replaceChildren();
  const kb = state.replyKeyboard;
  if (!kb || (kb.markup.one_time_keyboard && state.kbUsed)) return;
  for (const buttons of kb.markup.keyboard) {
    const row = el("div", "row");
    for (const b of buttons) {
      const spec = typeof b === "string" ? { text: b } : b;
      const button = el("button", "", spec.text);
      button.type = "button";
      button.addEventListener("click", () => pressReply(spec));
      row.append(button);
    }
    box.append(row);
  }
}

async function pressReply(spec) {
  state.kbUsed = true;
  if (spec.request_location) { openMap(); return; }
  if (spec.request_contact) {
    await api("POST", `/sandbox/users/${state.persona.user_id}/contact`, {});
  } else {
    await sendText(spec.text);
  }
  renderReplyKeyboard();
}

async function sendText(text) {
  await api("POST", `/control/users/${state.persona.user_id}/text`, { text });
}

async function sendPhoto(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  await api("POST", `/control/users/${state.persona.user_id}/photo`, form);
}

function showImage(url) {
  const viewer = $("viewer");
  viewer.querySelector("img").src = url;
  viewer.hidden = false;
}

function wireComposer() {
  const input = $("text");
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await sendText(text);
  };
  $("send").addEventListener("click", send);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") send(); });
  $("plus").addEventListener("click", () => { $("menu").hidden = !$("menu").hidden; $("samples").hidden = true; });
  $("m-upload").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (file) await sendPhoto(file, file.name);
    e.target.value = "";
    $("menu").hidden = true;
  });
  $("m-samples").addEventListener("click", () => {
    const box = $("samples");
    box.replaceChildren();
    for (const sample of CHROME.samples) {
      const name = sample.file;
      const img = el("img");
      img.src = `/static/samples/${name}`;
      img.alt = sample.alt;
      img.title = sample.alt;
      img.dataset.sample = name;
      img.addEventListener("click", async () => {
        const blob = await (await fetch(img.src)).blob();
        box.hidden = true;
        $("menu").hidden = true;
        await sendPhoto(blob, name);
      });
      box.append(img);
    }
    box.hidden = false;
  });
  $("m-location").addEventListener("click", () => { $("menu").hidden = true; openMap(); });
  $("viewer").addEventListener("click", () => { $("viewer").hidden = true; });
  wireMap();
}

// --- map picker ----------------------------------------------------------------------------
// The map's own polygons as SVG: the city's streets, then one street's communities and grids.
// The view is the SVG viewBox: wheel, drag and pinch change it; labels keep their size on
// screen (font size in user units = pixels × units per pixel), so they read at every zoom.

const map = {
  detail: false, k: 1, picked: null, vb: null, home: null, street: null, gridWidths: [], gridPx: undefined,
  names: new Map(), pointers: new Map(), moved: 0, pinch: null, searchSeq: 0,
};
const LABEL_PX = { district: 14, street: 13, community: 13, grid: 11 };

function openMap() {
  $("mappicker").hidden = false;
  $("map-search").value = "";
  $("map-results").hidden = true;
  drawMap("/sandbox/map", false);
}

function closeMap() { $("mappicker").hidden = true; }

async function drawMap(url, detail) {
  const data = await api("GET", url);
  const svg = $("map");
  svg.replaceChildren();
  map.detail = detail;
  map.picked = null;
  $("map-send").disabled = true;
  $("map-up").hidden = !detail;
  $("map-hint").textContent = detail ? T.grid_hint : T.zoom_hint;
  const [minX, minY, maxX, maxY] = data.bbox;
  // Equirectangular with the longitude squeezed by cos(lat): true shapes at city scale.
  map.k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  map.home = box(minX, minY, maxX, maxY, 0.03);
  const order = { district: 0, street: 1, grid: 2, community: 3 };
  const features = data.features.filter((f) => !(detail && f.properties.level === "street"))
    .sort((a, b) => order[a.properties.level] - order[b.properties.level]);
  map.names = new Map(data.features.map((f) => [f.properties.code, f.properties.name]));
  map.gridWidths = [];
  for (const f of features) svg.append(shape(f));
  // A typical grid's width, for when grid numbers have room on screen (see setView).
  const widths = map.gridWidths.sort((a, b) => a - b);
  map.gridPx = widths.length ? widths[Math.floor(widths.length / 2)] : undefined;
  for (const f of features) {
    const level = f.properties.level;
    if ((detail && level !== "district") || (!detail && level === "street")) svg.append(label(f));
  }
  const street = data.features.find((f) => f.properties.level === "street");
  map.street = detail && street ? street.properties.code : null;
  $("map-title").textContent = detail && street ? street.properties.name : T.pick_location;
  setView(map.home);
}

// A viewBox around a bounding box in map coordinates, with a margin (a share of its width).
function box(minX, minY, maxX, maxY, margin) {
  const pad = Math.max((maxX - minX) * map.k, maxY - minY) * margin;
  return { x: minX * map.k - pad, y: -maxY - pad, w: (maxX - minX) * map.k + 2 * pad, h: maxY - minY + 2 * pad };
}

function unitsPerPixel() {
  const rect = $("map").getBoundingClientRect();
  if (!rect.width || !rect.height) return map.vb.w / 400;
  return Math.max(map.vb.w / rect.width, map.vb.h / rect.height); // "meet" scaling
}

function setView(vb) {
  map.vb = vb;
  const svg = $("map");
  svg.setAttribute("viewBox", `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);
  const upp = unitsPerPixel();
  for (const text of svg.querySelectorAll("text")) {
    text.setAttribute("font-size", (LABEL_PX[text.dataset.level] * upp).toFixed(7));
  }
  // Grid numbers only once a grid is wide enough on screen to hold one.
  svg.classList.toggle("far", map.detail && map.gridPx !== undefined && map.gridPx / upp < 14);
  const pin = svg.querySelector(".pin");
  if (pin) pin.setAttribute("r", (7 * upp).toFixed(7));
}

function toMap(clientX, clientY) {
  return new DOMPoint(clientX, clientY).matrixTransform($("map").getScreenCTM().inverse());
}

function zoomAt(factor, clientX, clientY) {
  const p = toMap(clientX, clientY);
  const w = Math.min(Math.max(map.vb.w / factor, map.home.w / 60), map.home.w * 2);
  const f = map.vb.w / w;
  setView({ x: p.x - (p.x - map.vb.x) / f, y: p.y - (p.y - map.vb.y) / f, w, h: map.vb.h / f });
}

function zoomCentre(factor) {
  const rect = $("map").getBoundingClientRect();
  zoomAt(factor, rect.left + rect.width / 2, rect.top + rect.height / 2);
}

function panBy(dxPx, dyPx) {
  const upp = unitsPerPixel();
  setView({ ...map.vb, x: map.vb.x - dxPx * upp, y: map.vb.y - dyPx * upp });
}

function wireMapGestures() {
  const svg = $("map");
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
  }, { passive: false });
  svg.addEventListener("pointerdown", (e) => {
    map.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (map.pointers.size === 1) map.moved = 0;
    map.pinch = map.pointers.size === 2 ? pinchState() : null;
  });
  svg.addEventListener("pointermove", (e) => {
    const last = map.pointers.get(e.pointerId);
    if (!last) return;
    const now = { x: e.clientX, y: e.clientY };
    map.pointers.set(e.pointerId, now);
    if (map.pointers.size === 1) {
      map.moved += Math.hypot(now.x - last.x, now.y - last.y);
      if (map.moved > 5) panBy(now.x - last.x, now.y - last.y);
    } else if (map.pinch) {
      const next = pinchState();
      map.moved += 10;
      zoomAt(next.distance / map.pinch.distance, next.x, next.y);
      panBy(next.x - map.pinch.x, next.y - map.pinch.y);
      map.pinch = next;
    }
  });
  const lift = (e) => {
    map.pointers.delete(e.pointerId);
    map.pinch = map.pointers.size === 2 ? pinchState() : null;
  };
  svg.addEventListener("pointerup", lift);
  svg.addEventListener("pointercancel", lift);
  svg.addEventListener("pointerleave", lift);
}

function pinchState() {
  const [a, b] = [...map.pointers.values()];
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2, distance: Math.max(Math.hypot(a.x - b.x, a.y - b.y), 1) };
}

function ringPath(ring) {
  return ring.map(([x, y], i) => `${i ? "L" : "M"}${(x * map.k).toFixed(6)} ${(-y).toFixed(6)}`).join("") + "Z";
}

function shape(feature) {
  const g = feature.geometry;
  const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", polygons.map((p) => p.map(ringPath).join("")).join(""));
  path.setAttribute("fill-rule", "evenodd");
  path.setAttribute("class", feature.properties.level);
  path.dataset.code = feature.properties.code;
  path.dataset.level = feature.properties.level;
  if (feature.properties.level === "grid") {
    const xs = polygons.flat(2).map((point) => point[0]);
    map.gridWidths.push((Math.max(...xs) - Math.min(...xs)) * map.k);
  }
  return path;
}

function label(feature) {
  const p = feature.properties;
  const text = document.createElementNS(NS, "text");
  text.setAttribute("x", (p.anchor[0] * map.k).toFixed(6));
  text.setAttribute("y", (-p.anchor[1]).toFixed(6));
  text.setAttribute("class", p.level);
  text.dataset.code = p.code;
  text.dataset.level = p.level;
  text.textContent = p.level === "grid" ? p.name.replace(/^.*第/, "") : p.name;
  return text;
}

function onMapClick(event) {
  if (map.moved > 5) return; // the end of a drag or a pinch, not a click
  const target = event.target.closest("[data-code]");
  if (!map.detail) {
    if (target && target.dataset.level === "street") drawMap(`/sandbox/map/${target.dataset.code}`, true);
    return;
  }
  const pt = toMap(event.clientX, event.clientY);
  // The grid under the pointer, even below a highlighted community drawn over it.
  const grid = document.elementsFromPoint(event.clientX, event.clientY)
    .find((node) => node.dataset && node.dataset.level === "grid");
  pick({ lat: -pt.y, lon: pt.x / map.k }, grid ? map.names.get(grid.dataset.code) : null);
}

// Put the pin on a point (map coordinates) and say where it is: the grid's name, not a code.
function pick(where, gridName) {
  const svg = $("map");
  map.picked = where;
  let pin = svg.querySelector(".pin");
  if (!pin) { pin = document.createElementNS(NS, "circle"); pin.setAttribute("class", "pin"); svg.append(pin); }
  pin.setAttribute("cx", where.lon * map.k);
  pin.setAttribute("cy", -where.lat);
  pin.setAttribute("r", (7 * unitsPerPixel()).toFixed(7));
  $("map-hint").textContent = gridName || `${where.lat.toFixed(5)}, ${where.lon.toFixed(5)}`;
  $("map-send").disabled = false;
}

async function sendPickedLocation() {
  if (!map.picked) return;
  await api("POST", `/sandbox/users/${state.persona.user_id}/location`, map.picked);
  closeMap();
  renderReplyKeyboard();
}

// --- map search and the browser's own location ---------------------------------------------

async function searchMap() {
  const text = $("map-search").value.trim();
  const list = $("map-results");
  const seq = ++map.searchSeq;
  if (!text) { list.hidden = true; return; }
  const hits = await api("GET", `/sandbox/map/search?q=${encodeURIComponent(text)}`);
  if (seq !== map.searchSeq) return; // a later keystroke already asked again
  list.replaceChildren();
  if (!hits.length) list.append(el("li", "none", T.no_match));
  for (const hit of hits) {
    const item = el("li");
    const button = el("button", "", hit.name);
    button.type = "button";
    button.dataset.code = hit.code;
    if (hit.street_name && hit.level !== "street") button.append(el("span", "", hit.street_name));
    button.addEventListener("click", () => goTo(hit));
    item.append(button);
    list.append(item);
  }
  list.hidden = false;
}

async function goTo(hit) {
  $("map-results").hidden = true;
  $("map-search").value = hit.name;
  if (!hit.street) return;
  if (!map.detail || map.street !== hit.street) await drawMap(`/sandbox/map/${hit.street}`, true);
  const [minX, minY, maxX, maxY] = hit.bbox;
  setView(box(minX, minY, maxX, maxY, hit.level === "grid" ? 0.6 : 0.08));
  for (const found of $("map").querySelectorAll("path.found")) found.classList.remove("found");
  const path = $("map").querySelector(`path[data-code="${hit.code}"]`);
  if (path) path.classList.add("found");
}

function locateMe() {
  navigator.geolocation.getCurrentPosition(
    async (position) => {
      // The browser gives WGS-84, as a phone does: sent as it is, not as a map point.
      const { latitude, longitude } = position.coords;
      await api("POST", `/sandbox/users/${state.persona.user_id}/location`,
        { lat: latitude, lon: longitude, crs: "wgs84" });
      closeMap();
      renderReplyKeyboard();
    },
    () => toast(T.locating_failed),
    { timeout: 10000 },
  );
}

function wireMap() {
  $("map-close").addEventListener("click", closeMap);
  $("map-up").addEventListener("click", () => drawMap("/sandbox/map", false));
  $("map-send").addEventListener("click", sendPickedLocation);
  $("map").addEventListener("click", onMapClick);
  $("map-zoom-in").addEventListener("click", () => zoomCentre(1.6));
  $("map-zoom-out").addEventListener("click", () => zoomCentre(1 / 1.6));
  let timer = null;
  $("map-search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(searchMap, 150); });
  $("map-search").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    const first = $("map-results").querySelector("button");
    if (first) first.click(); else searchMap();
  });
  $("map-locate").hidden = !("geolocation" in navigator);
  $("map-locate").addEventListener("click", locateMe);
  wireMapGestures();
  window.addEventListener("resize", () => { if (map.vb) setView(map.vb); });
}

// --- start ----------------------------------------------------------------------------------

$("back").href = pageUrl({});
const key = new URLSearchParams(location.search).get("as");
(key ? openChat(key) : showPicker()).catch((err) => toast(err.message));
