// The chat page: one WebSocket to /ws/chat/ROOM?name=NAME, JSON both ways.
//
// We send {"text": "..."}; the server sends welcome (members and the last 50 messages),
// message, join, leave and error objects. ws:// on an http page, wss:// on an https one.
// A dropped connection is retried with exponential back-off (1 s, 2 s, 4 s ... 30 s, with
// jitter), except when the server refused us on purpose (a close with 1008: a name taken or
// invalid, flooding): then it says why and waits for the person. One refusal is retried: a
// name taken when we come back after a drop is most likely our own old connection, which the
// server has not yet seen die (it pings, and drops it when no pong comes: at most twice its
// --ping-interval). No build step, no library.
"use strict";

const $ = (id) => document.getElementById(id);
const joinForm = $("join"), sayForm = $("say"), log = $("log"), status = $("status");
const nameInput = $("name"), roomInput = $("room"), textInput = $("text");
const joinButton = $("join-button"), leaveButton = $("leave"), sendButton = $("send");

let socket = null;     // the open (or opening) WebSocket
let wanted = null;     // {name, room} while the person wants to be in a room
let attempt = 0;       // reconnections since the last welcome
let welcomed = false;  // this room has welcomed us since the person pressed Join
let retryTimer = null;

function say(text, isError = false) {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function time(ts) {
  const el = document.createElement("time");
  const when = new Date(ts);
  el.dateTime = when.toISOString();
  el.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el;
}

// One line in the log; text is always set as text, never parsed as HTML.
function line(ts, from, text) {
  const item = document.createElement("li");
  item.append(time(ts));
  if (from === null) {
    item.classList.add("event");
    item.append(text);
  } else {
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = from + ":";
    item.append(who, text);
  }
  // Keep the newest in view, unless the reader has scrolled up to read older lines.
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(item);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function setJoined(joined) {
  textInput.disabled = sendButton.disabled = !joined;
  leaveButton.disabled = wanted === null;
  nameInput.disabled = roomInput.disabled = joinButton.disabled = wanted !== null;
}

function url(room, name) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/chat/${encodeURIComponent(room)}?name=${encodeURIComponent(name)}`;
}

function connect() {
  const { name, room } = wanted;
  say(attempt === 0 ? `Connecting to ${room}…` : `Reconnecting to ${room}…`);
  const ws = new WebSocket(url(room, name));
  socket = ws;
  let refusal = null;
  ws.onmessage = (event) => {
    let m;
    try { m = JSON.parse(event.data); } catch { return; }
    switch (m.type) {
      case "welcome":
        attempt = 0;
        welcomed = true;
        // The log mirrors the room: its history replaces what we showed before a reconnect.
        log.replaceChildren();
        for (const h of m.history) line(h.ts, h.from, h.text);
        line(Date.now(), null, `You joined ${m.room} as ${name}. Here: ${m.members.join(", ")}.`);
        say(`Connected to ${m.room} as ${name}.`);
        setJoined(true);
        textInput.focus();
        break;
      case "message": line(m.ts, m.from, m.text); break;
      case "join": line(Date.now(), null, `${m.name} joined`); break;
      case "leave": line(Date.now(), null, `${m.name} left`); break;
      case "error": refusal = m.error; say(`The server says: ${m.error}`, true); break;
    }
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    setJoined(false);
    if (wanted === null) return;  // the person left
    const ghost = welcomed && refusal !== null && refusal.startsWith("name taken");
    if (event.code === 1008 && !ghost) {
      // Refused on purpose: retrying would only be refused again.
      say(`Disconnected: ${event.reason || refusal || "refused by the server"}`, true);
      wanted = null;
      setJoined(false);
      nameInput.focus();
      return;
    }
    const delay = Math.min(30, 2 ** attempt) * 1000 * (0.75 + Math.random() / 2);
    attempt += 1;
    const why = ghost ? "our old connection still holds the name" : `code ${event.code}`;
    say(`Disconnected (${why}); trying again in ${Math.round(delay / 1000)} s.`, true);
    retryTimer = setTimeout(connect, delay);
  };
}

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!joinForm.reportValidity()) return;
  wanted = { name: nameInput.value, room: roomInput.value };
  localStorage.setItem("chat-name", wanted.name);
  attempt = 0;
  welcomed = false;
  setJoined(false);
  connect();
});

leaveButton.addEventListener("click", () => {
  wanted = null;
  clearTimeout(retryTimer);
  if (socket) socket.close(1000, "bye");
  socket = null;
  setJoined(false);
  say("Not connected.");
  nameInput.focus();
});

sayForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = textInput.value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ text }));
  textInput.value = "";
  textInput.focus();
});

nameInput.value = localStorage.getItem("chat-name") || "";
// A link may name the room: /chat/#kitchen.
if (location.hash.length > 1) roomInput.value = decodeURIComponent(location.hash.slice(1));
(nameInput.value ? roomInput : nameInput).focus();
