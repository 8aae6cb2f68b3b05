// The deployment page: the result from the API, then every event from the
// event stream (its history first, so a reload shows the same state).
// Everything from the server is written with textContent, never as HTML:
// build logs come from the repository being built.
"use strict";
(function () {
  const id = decodeURIComponent(location.pathname.split("/").pop());
  const base = "/api/v1/deploy/" + encodeURIComponent(id);
  const stages = ["clone", "build", "push", "deploy"];
  const started = {};
  const maxLog = 300;
  const logLines = [];
  let ended = false; // a done or error event was seen
  const $ = (sel) => document.getElementById(sel);
  $("deployment-id").textContent = id;

  function setStatus(status) {
    $("status").textContent = status;
    $("status").dataset.status = status;
  }

  function seconds(s) {
    if (!s) return "";
    return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  }

  function setStage(stage, state, dur) {
    const li = $("stage-" + stage);
    if (!li) return;
    li.dataset.state = state;
    li.querySelector(".state").textContent = state;
    if (dur) li.querySelector(".dur").textContent = seconds(dur);
  }

  function link(el, url) {
    el.textContent = "";
    if (!url) return;
    if (!/^https?:\/\//.test(url)) { el.textContent = url; return; }
    const a = document.createElement("a");
    a.href = url; a.textContent = url; a.rel = "noopener noreferrer";
    el.appendChild(a);
  }

  function showResult(r) {
    // The record may be written a moment after the final event: never let a
    // stale RUNNING replace the final status the stream already showed.
    if (!ended || !["QUEUED", "RUNNING"].includes(r.status)) setStatus(r.status);
    $("f-repository").textContent = r.repository || "";
    $("f-commit").textContent = (r.commit || "") + (r.branch ? " (" + r.branch + ")" : "");
    $("f-environment").textContent = r.environment || "";
    $("f-trigger").textContent = (r.trigger || "") + (r.actor ? " by " + r.actor : "");
    $("f-duration").textContent = seconds(r.duration);
    $("f-image").textContent = r.newImageUri || "";
    link($("f-blue"), r.blueServiceUrl);
    link($("f-green"), r.greenServiceUrl);
    const m = r.metrics || {};
    const durs = { clone: m.gitCloneDuration, build: m.dockerBuildDuration, push: m.ecrPushDuration, deploy: m.deploymentDuration };
    for (const st of stages) {
      if (durs[st]) setStage(st, r.error && r.error.stage === st ? "failed" : "succeeded", durs[st]);
    }
    if (r.error) {
      $("error").textContent = (r.error.stage ? r.error.stage + ": " : "") + r.error.message;
      if (r.error.stage) setStage(r.error.stage, "failed");
    }
  }

  function loadResult() {
    return fetch(base + "/result", { cache: "no-store" })
      .then((resp) => resp.json())
      .then((env) => { if (env.success) showResult(env.data); else $("error").textContent = env.message; })
      .catch(() => { $("conn").textContent = "Could not load the result; retrying with the event stream."; });
  }

  // showApproval shows a rollout held for approval (phase "approval": the
  // test URL, who may answer, until when) and then its answer (phase
  // "approval_answered": the message says who answered, or that nobody did).
  function showApproval(d) {
    const box = $("approval");
    box.hidden = false;
    if (d.phase === "approval") {
      box.dataset.state = "waiting";
      $("approval-title").textContent = "Waiting for approval.";
      const who = d.approvers && d.approvers.length ? d.approvers.join(", ") : "someone with write access";
      $("approval-text").textContent = "Approve or reject on GitHub (" + who + "), before " +
        new Date(d.until).toISOString().replace(".000Z", "Z") + ". The new revision serves the test listener:";
      link($("approval-url"), d.testUrl);
    } else {
      box.dataset.state = "answered";
      $("approval-title").textContent = d.approved ? "Approved." : "Not approved.";
      $("approval-text").textContent = d.message || "";
      $("approval-url").textContent = "";
    }
  }

  function log(line) {
    logLines.push(line);
    if (logLines.length > maxLog) logLines.splice(0, logLines.length - maxLog);
    $("log").textContent = logLines.join("\n");
    $("log").scrollTop = $("log").scrollHeight;
  }

  // apply moves the page along one event. The events and their details are
  // the Go types of package events (see its godoc); the page reads only
  // details.state (started, succeeded or failed), details.durationMs, and on
  // the final event details.status, totalDuration (ms) and the service URLs.
  // Log lines are events too (phase "log"): their message is the line.
  function apply(ev) {
    const d = ev.details || {};
    const stage = stages.includes(ev.stage) ? ev.stage : null;
    if (stage) {
      const idx = stages.indexOf(stage);
      for (const earlier of stages.slice(0, idx)) {
        const li = $("stage-" + earlier);
        if (li.dataset.state === "running" || li.dataset.state === "pending") setStage(earlier, "succeeded");
      }
      const t = Date.parse(ev.timestamp);
      if (!(stage in started)) started[stage] = t;
      let state = d.state === "succeeded" || d.state === "failed" ? d.state : "running";
      if (ev.type === "error") state = "failed";
      const dur = d.durationMs ? d.durationMs / 1000 : (state !== "running" ? (t - started[stage]) / 1000 : 0);
      setStage(stage, state, dur);
    }
    if (d.phase === "approval" || d.phase === "approval_answered") showApproval(d);
    if (ev.message) log((ev.stage ? "[" + ev.stage + "] " : "") + ev.message);
    if ($("status").dataset.status === "QUEUED" || $("status").dataset.status === "") setStatus("RUNNING");
  }

  function connect() {
    const es = new EventSource(base + "/events");
    const onEvent = (e) => { $("conn").textContent = ""; apply(JSON.parse(e.data)); };
    const finish = (e, status) => {
      es.close();
      ended = true;
      const ev = JSON.parse(e.data);
      apply(ev);
      const d = ev.details || {};
      setStatus(d.status || status);
      // Streams written before totalDuration existed lack it: the result,
      // loaded next, fills the duration and the URLs in any case.
      if (typeof d.totalDuration === "number") $("f-duration").textContent = seconds(d.totalDuration / 1000);
      if (d.blueServiceUrl) link($("f-blue"), d.blueServiceUrl);
      if (d.greenServiceUrl) link($("f-green"), d.greenServiceUrl);
      loadResult();
    };
    es.addEventListener("stage", onEvent);
    es.addEventListener("done", (e) => finish(e, "SUCCEEDED"));
    es.addEventListener("error", (e) => {
      // A server-sent "error" event carries data; the browser's own error
      // event (connection lost) does not, and EventSource reconnects by itself
      // with Last-Event-ID.
      if (e.data) finish(e, "FAILED");
      else if (es.readyState !== EventSource.CLOSED) $("conn").textContent = "Connection lost; reconnecting…";
    });
  }

  loadResult().then(connect);
})();
