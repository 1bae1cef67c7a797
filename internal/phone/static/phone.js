// The phone's page: each control is one request to /phone/api/calls,
// answered with what the caller heard and the call's state. The call
// itself lives in the demo (a simulated Twilio call); this page keeps
// only what it shows, and forgets it at the next dial.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const api = "/phone/api/calls";
  let callID = null; // the call in progress, as the demo names it
  let busy = false;
  let answered = 0; // requests answered, in body[data-answered]: tests wait on it

  const waitingFor = {
    "dtmf": "keys",
    "speech": "speech",
    "dtmf speech": "keys or speech",
    "speech dtmf": "keys or speech",
    "stream": "keys (Media Stream)",
    "relay": "keys or speech (ConversationRelay)",
  };

  function controls() {
    const inCall = callID !== null;
    document.body.dataset.busy = busy ? "true" : "false";
    $("dial").disabled = busy || inCall;
    for (const id of ["hangup", "send-keys", "say", "silence"]) {
      $(id).disabled = busy || !inCall;
    }
  }

  function addLine(kind, who, text) {
    const li = document.createElement("li");
    li.className = kind;
    if (who) {
      const w = document.createElement("span");
      w.className = "who";
      w.textContent = who;
      li.append(w);
    }
    const t = document.createElement("span");
    t.className = "text";
    t.textContent = text;
    li.append(t);
    $("transcript").append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  function speak(h) {
    if (!$("speak").checked || !("speechSynthesis" in window)) {
      return;
    }
    const u = new SpeechSynthesisUtterance(h.text);
    if (h.language) {
      u.lang = h.language;
    }
    window.speechSynthesis.speak(u);
  }

  function showAgent(v) {
    const lines = (v.agent || []).map((r) => r.tool + ": " + JSON.stringify(r.result, null, 2));
    if (v.agent_error) {
      lines.push("agent: " + v.agent_error);
    }
    if (lines.length === 0) {
      lines.push(v.outcome === "verified" ? "(no MCP server configured)" : "(none: the call was not verified)");
    }
    $("agent").textContent = lines.join("\n");
  }

  function show(v) {
    for (const h of v.heard || []) {
      const who = "Gateway" + (h.language ? " (" + h.language + ")" : "") + (h.prompt ? ", audio prompt " + h.prompt : "");
      addLine("heard", who, h.text);
      speak(h);
    }
    $("gateway-state").textContent = v.state ? v.state + (v.attempts ? ", attempts " + v.attempts : "") : "\u2014";
    if (v.ended) {
      callID = null;
      document.body.dataset.call = "ended";
      $("call-state").textContent = "ended (" + v.end + ")";
      $("waiting").textContent = "\u2014";
      addLine("event", "", "Call ended: " + v.end);
      $("outcome").textContent = v.outcome === "verified" ? "Verified" : "Not verified";
      $("outcome").className = v.outcome === "verified" ? "ok" : "bad";
      showAgent(v);
      return;
    }
    callID = v.id;
    document.body.dataset.call = "in-call";
    $("call-state").textContent = "in call";
    $("waiting").textContent = waitingFor[v.waiting] || v.waiting || "\u2014";
  }

  async function post(path, body, keepalive) {
    const r = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
      keepalive: !!keepalive,
    });
    let j = {};
    try {
      j = await r.json();
    } catch (e) {
      // an answer without JSON: its status says enough
    }
    if (!r.ok) {
      const err = new Error(j.error || "HTTP " + r.status);
      err.status = r.status;
      throw err;
    }
    return j;
  }

  // run sends one request; echo is what the transcript shows the caller did.
  async function run(path, body, echo) {
    if (busy) {
      return;
    }
    busy = true;
    controls();
    $("error").textContent = "";
    try {
      if (echo) {
        addLine("you", "You", echo);
      }
      show(await post(path, body));
    } catch (e) {
      $("error").textContent = e.message;
      if (e.status === 404 || e.status === 502) {
        callID = null;
        document.body.dataset.call = "ended";
        $("call-state").textContent = "ended";
      }
    } finally {
      busy = false;
      answered++;
      document.body.dataset.answered = String(answered);
      controls();
    }
  }

  function step(body, echo) {
    if (callID !== null) {
      run(api + "/" + encodeURIComponent(callID), body, echo);
    }
  }

  $("dial").addEventListener("click", () => {
    if ("speechSynthesis" in window) {
      window.speechSynthesis.cancel();
    }
    $("transcript").replaceChildren();
    $("outcome").textContent = "\u2014";
    $("outcome").className = "";
    $("agent").textContent = "\u2014";
    $("call-state").textContent = "dialling";
    run(api, {}, null);
  });

  $("hangup").addEventListener("click", () => step({ kind: "hangup" }, "(hangs up)"));
  $("silence").addEventListener("click", () => step({ kind: "silence" }, "(silence)"));

  function sendKeys() {
    const keys = $("keys").value.replace(/[^0-9*#]/g, "");
    $("keys").value = "";
    if (keys === "") {
      step({ kind: "silence" }, "(no keys: silence)");
      return;
    }
    step({ kind: "dtmf", value: keys }, "keys " + keys);
  }

  for (const b of document.querySelectorAll(".key")) {
    b.addEventListener("click", () => {
      const k = b.dataset.key;
      $("keys").value += k;
      // # ends a keypad answer, as on a phone.
      if (k === "#" && callID !== null) {
        sendKeys();
      }
    });
  }
  $("clear-keys").addEventListener("click", () => {
    $("keys").value = "";
  });
  $("send-keys").addEventListener("click", sendKeys);
  $("keys").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      sendKeys();
    }
  });

  function say() {
    const text = $("speech").value.trim();
    const conf = Number($("confidence").value);
    $("speech").value = "";
    if (text === "") {
      step({ kind: "silence" }, "(says nothing: silence)");
      return;
    }
    step({ kind: "say", value: text, confidence: conf }, "\u201c" + text + "\u201d (confidence " + conf.toFixed(2) + ")");
  }
  $("say").addEventListener("click", say);
  $("speech").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      say();
    }
  });
  $("confidence").addEventListener("input", () => {
    $("confidence-value").textContent = Number($("confidence").value).toFixed(2);
  });

  // A closed tab hangs up, as a caller putting the phone down does (the
  // demo's idle timeout covers a crash).
  window.addEventListener("pagehide", () => {
    if (callID !== null) {
      post(api + "/" + encodeURIComponent(callID), { kind: "hangup" }, true).catch(() => {});
    }
  });

  controls();
})();
