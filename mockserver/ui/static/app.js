/* The mock's dashboard: polls the admin JSON routes once a second and patches the page in place.
 *
 * Every value from the server reaches the page through textContent, attributes or properties,
 * never through HTML parsing; the Content-Security-Policy forbids inline code and other origins.
 * Routes another version of the server may lack (callbacks, cancel) are detected, not assumed.
 */
"use strict";

(() => {
  const POLL_MS = 1000;
  const COLUMNS = ["Task", "Key", "Model", "Status", "Progress", "Created", "Est. completion",
    "Failure", "Callback", "Prompt"];
  const TERMINAL = new Set(["completed", "failed"]);
  // the spec's operation ids, as the fault form names them
  const OPERATIONS = { createVideoGeneration: "create", getTaskDetail: "query" };
  // the admin token (--admin-token), for this tab only: sessionStorage, sent as a header. A
  // header is never attached by the browser to another site's request, as a cookie would be.
  const TOKEN_KEY = "evolink-mock-admin-token";

  const state = {
    now: null,
    clockKind: null,
    rows: new Map(), // task id -> the record of its row(s)
    expanded: new Set(),
    deliveries: new Map(), // task id -> deliveries, oldest first
    callbacks: null, // null: not known yet; then true or false
    cancel: null, // null: not known yet (shown); false once the route turned out missing
    files: null, // null: not known yet; false once /_mock/files turned out missing
    fileRows: new Map(), // file id -> the record of its row
    faultsKey: null,
    connected: true,
    rendered: false,
    pollSeq: 0,
    timer: 0,
    locked: false, // the server wants a token this tab does not have (or a wrong one)
    scenariosLoaded: false,
    memoryToken: null, // the token, where sessionStorage is disabled
  };

  const byId = (id) => document.getElementById(id);

  // -- DOM helpers: text only ------------------------------------------------------------------

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("aria-") || key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) node.append(child); // strings become Text nodes
    }
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // -- formatting ------------------------------------------------------------------------------

  function iso(seconds) {
    const date = new Date(seconds * 1000);
    return Number.isFinite(date.getTime()) ? date.toISOString() : null;
  }

  function clockTime(seconds) {
    const text = seconds === null || seconds === undefined ? null : iso(seconds);
    return text ? text.slice(11, 19) : "—";
  }

  function dateTime(seconds) {
    const text = iso(seconds);
    return text ? `${text.slice(0, 10)} ${text.slice(11, 19)}` : "—";
  }

  function span(seconds) {
    const s = Math.round(seconds);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function relative(seconds) {
    if (state.now === null) return "";
    const delta = Math.round(seconds - state.now);
    if (delta > 0) return `in ${span(delta)}`;
    if (delta < 0) return `${span(-delta)} ago`;
    return "now";
  }

  function setTime(node, seconds) {
    setText(node, clockTime(seconds));
    const stamp = iso(seconds) || "";
    if (node.dateTime !== stamp) {
      node.dateTime = stamp;
      node.title = dateTime(seconds) + " UTC";
    }
  }

  function redact(key) {
    if (key === null || key === undefined) return null;
    return key.length > 8 ? `${key.slice(0, 6)}...` : "***";
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function domId(prefix, value) {
    return prefix + String(value).replace(/[^A-Za-z0-9_-]/g, "_");
  }

  // -- the server ------------------------------------------------------------------------------

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null; // storage disabled: the token is asked for again on each load
    }
  }

  function lock(message) {
    state.locked = true;
    clearTimeout(state.timer);
    byId("login-form").hidden = false;
    say(message, true);
    byId("admin-token").focus();
  }

  function unlock(event) {
    event.preventDefault();
    const token = byId("admin-token").value.trim();
    if (!token) {
      say("Enter the server's admin token.", true);
      return;
    }
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      state.memoryToken = token;
    }
    byId("admin-token").value = "";
    byId("login-form").hidden = true;
    state.locked = false;
    say("Unlocked.");
    if (!state.scenariosLoaded) loadScenarios();
    poll();
  }

  async function api(method, url, body) {
    const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
    const token = storedToken() || state.memoryToken;
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const raw = await response.text();
    let data = null;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      const error = new Error(message || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = data && data.error && data.error.code;
      // the envelope of a route this server does not have (an older version, say)
      error.noRoute = response.status === 404 && message === "No such route";
      if (response.status === 401 && url.startsWith("/_mock/")) {
        try {
          sessionStorage.removeItem(TOKEN_KEY);
        } catch {
          state.memoryToken = null;
        }
        lock("The admin token was refused: enter it again.");
      }
      throw error;
    }
    return { data, response };
  }

  // -- status messages (the one live region) ---------------------------------------------------

  function say(text, isError) {
    const status = byId("status");
    status.classList.toggle("error", Boolean(isError));
    setText(status, text);
  }

  async function act(what, action) {
    try {
      say(await action());
    } catch (error) {
      say(`${what} failed: ${error.message}`, true);
    }
    poll();
  }

  function setConnected(connected) {
    if (connected === state.connected) return;
    state.connected = connected;
    const note = byId("connection");
    note.hidden = connected;
    setText(note, connected ? "" : "Cannot reach the mock server: retrying every second.");
    say(connected ? "Connected to the mock server again." : "Lost the connection to the mock server.",
      !connected);
  }

  // -- polling ---------------------------------------------------------------------------------

  async function poll() {
    const seq = ++state.pollSeq;
    clearTimeout(state.timer);
    if (state.locked) return;
    try {
      const wanted = [api("GET", "/_mock/clock"), api("GET", "/_mock/tasks"), api("GET", "/_mock/faults")];
      if (state.callbacks !== false) {
        wanted.push(api("GET", "/_mock/callbacks").catch((error) => {
          if (error.status === 404) return null; // this server has no callbacks
          throw error;
        }));
      } else {
        wanted.push(Promise.resolve(null));
      }
      if (state.files !== false) {
        wanted.push(api("GET", "/_mock/files").catch((error) => {
          if (error.status === 404) return null; // this server has no files API
          throw error;
        }));
      }
      let answers;
      try {
        answers = await Promise.all(wanted);
      } catch (error) {
        if (seq === state.pollSeq && error.status !== 401) setConnected(false);
        return;
      }
      if (seq !== state.pollSeq) return; // a newer poll is under way
      setConnected(true);
      const [clock, tasks, faults, callbacks, files] = answers;
      renderClock(clock.data);
      if (state.callbacks !== false) renderCallbackFeature(callbacks ? callbacks.data : null);
      renderFaults(faults.data);
      const total = Number(tasks.response.headers.get("X-Total-Count"));
      renderTasks(tasks.data, Number.isFinite(total) ? total : tasks.data.length);
      if (state.files !== false) renderFiles(files);
    } catch (error) {
      console.error("dashboard: rendering failed", error);
    } finally {
      if (seq === state.pollSeq && !document.hidden && !state.locked) {
        state.timer = setTimeout(poll, POLL_MS);
      }
    }
  }

  // -- the clock -------------------------------------------------------------------------------

  function renderClock(clock) {
    state.now = clock.now;
    const now = byId("clock-now");
    setText(now, `${dateTime(clock.now)} UTC`);
    now.dateTime = iso(clock.now) || "";
    if (clock.kind === state.clockKind) return;
    state.clockKind = clock.kind;
    const real = clock.kind !== "virtual";
    setText(byId("clock-kind"), real ? `(real clock, speed ${clock.speed})` : "(virtual clock)");
    byId("clock-fieldset").disabled = real;
    const note = byId("clock-note");
    note.hidden = !real;
    setText(note, real
      ? "The clock is real: it runs by itself. Start the server with --clock virtual to move it from here."
      : "");
  }

  async function advance(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) {
      say("Advance by a number of seconds, 0 or more.", true);
      byId("advance-seconds").focus();
      return;
    }
    await act("Advancing the clock", async () => {
      const { data } = await api("POST", "/_mock/clock/advance", { seconds });
      renderClock(data);
      return `Advanced ${seconds} s: simulated time is now ${dateTime(data.now)} UTC.`;
    });
  }

  // -- faults ----------------------------------------------------------------------------------

  async function loadScenarios() {
    const select = byId("fault-choice");
    let entries = [];
    try {
      entries = (await api("GET", "/_mock/scenarios")).data;
    } catch (error) {
      if (error.status !== 401) say(`Could not load the scenario catalogue: ${error.message}`, true);
      return;
    }
    state.scenariosLoaded = true;
    entries.forEach((entry, index) => {
      select.append(el("option", { value: String(index), text: entry.name }));
    });
    const choose = () => {
      const entry = entries[Number(select.value)];
      if (!entry) return;
      // a template such as latency:MS or http:STATUS starts from its example
      byId("fault-scenario").value = /[A-Z]/.test(entry.name) ? entry.trigger : entry.name;
      setText(byId("fault-effect"), entry.effect);
    };
    select.addEventListener("change", choose);
    choose();
  }

  function faultText(fault) {
    const parts = [`#${fault.id} ${fault.scenario}`];
    const operation = OPERATIONS[fault.match.operation] || fault.match.operation;
    parts.push(operation ? `on ${operation}` : "on any operation");
    if (fault.match.api_key) parts.push(`key ${redact(fault.match.api_key)}`);
    parts.push(fault.remaining === null ? "until removed" : `${fault.remaining} left`);
    return parts.join(" · ");
  }

  function renderFaults(faults) {
    const key = JSON.stringify(faults);
    if (key === state.faultsKey) return;
    state.faultsKey = key;
    const list = byId("faults");
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.fault : null;
    list.replaceChildren(...faults.map((fault) => {
      const remove = el("button", {
        type: "button", className: "secondary", text: "Remove",
        "aria-label": `Remove fault #${fault.id}`, "data-fault": String(fault.id),
      });
      remove.addEventListener("click", () => act("Removing the fault", async () => {
        await api("DELETE", `/_mock/faults/${encodeURIComponent(fault.id)}`);
        return `Removed fault #${fault.id}.`;
      }));
      return el("li", {}, [el("span", { className: "fault", text: faultText(fault) }), remove]);
    }));
    byId("faults-empty").hidden = faults.length > 0;
    if (focused !== null) {
      const again = list.querySelector(`button[data-fault="${CSS.escape(focused)}"]`);
      (again || byId("faults-heading")).focus();
    }
  }

  async function injectFault(event) {
    event.preventDefault();
    const scenario = byId("fault-scenario").value.trim();
    const operation = byId("fault-operation").value;
    const apiKey = byId("fault-key").value.trim();
    const timesText = byId("fault-times").value.trim();
    const times = timesText === "" ? null : Number(timesText);
    if (!scenario) {
      say("Name a scenario to inject.", true);
      byId("fault-scenario").focus();
      return;
    }
    if (times !== null && !(Number.isInteger(times) && times >= 1)) {
      say("Times must be a whole number, 1 or more (or empty for until removed).", true);
      byId("fault-times").focus();
      return;
    }
    const match = {};
    if (operation) match.operation = operation;
    if (apiKey) match.api_key = apiKey;
    const body = { scenario, match };
    if (times !== null) body.times = times;
    await act("Injecting the fault", async () => {
      const { data } = await api("POST", "/_mock/faults", body);
      return `Injected fault #${data.id}: ${faultText(data)}.`;
    });
  }

  // -- callbacks -------------------------------------------------------------------------------

  function renderCallbackFeature(deliveries) {
    if (deliveries === null) {
      state.callbacks = false;
      state.deliveries.clear();
      byId("callbacks-note").hidden = false;
      return;
    }
    state.callbacks = true;
    state.deliveries.clear();
    for (const delivery of deliveries) {
      const list = state.deliveries.get(delivery.task_id);
      if (list) list.push(delivery);
      else state.deliveries.set(delivery.task_id, [delivery]);
    }
  }

  function attemptResult(attempt) {
    if (attempt.status_code !== null && attempt.status_code !== undefined) return `HTTP ${attempt.status_code}`;
    if (attempt.error) return attempt.error;
    return attempt.sent_at === null ? "waiting" : "in flight";
  }

  function callbackSummary(task) {
    if (!task.callback_url) return { badge: null, text: "—" };
    if (!state.callbacks) return { badge: null, text: "set" };
    const deliveries = state.deliveries.get(task.id) || [];
    if (!deliveries.length) {
      return { badge: null, text: TERMINAL.has(task.status) ? "not sent" : "sent when it ends" };
    }
    const last = deliveries[deliveries.length - 1];
    const attempts = last.attempts;
    const parts = [plural(attempts.length, "attempt")];
    const latest = attempts[attempts.length - 1];
    if (latest && last.outcome !== "delivered") {
      parts.push(`last ${attemptResult(latest).split(":")[0]}`); // the details are one click away
    }
    if (latest && latest.next_retry_at !== null && last.outcome === "pending") {
      parts.push(`retry ${clockTime(latest.next_retry_at)}`);
    }
    return { badge: last.outcome, text: parts.join(", ") };
  }

  function deliveryView(delivery) {
    const head = el("p", {}, [
      el("span", { className: `badge ${delivery.outcome}`, text: delivery.outcome }), " ",
      delivery.trigger === "replay" ? "replay " : "", el("code", { text: delivery.webhook_id }),
    ]);
    const headRow = el("tr", {}, ["#", "Scheduled", "Sent", "Result", "Duration", "Next retry"].map(
      (name) => el("th", { scope: "col", text: name })));
    const rows = delivery.attempts.map((a) => el("tr", {}, [
      el("td", { text: String(a.attempt) }),
      el("td", {}, [timeNode(a.scheduled_at)]),
      el("td", {}, [a.sent_at === null ? "—" : timeNode(a.sent_at)]),
      el("td", {
        className: a.status_code !== null && a.status_code >= 200 && a.status_code < 300 ? "" : "attempt-error",
        text: attemptResult(a),
      }),
      el("td", { text: a.duration === null ? "—" : `${a.duration} s` }),
      el("td", {}, [a.next_retry_at === null ? "—" : timeNode(a.next_retry_at)]),
    ]));
    const table = el("table", {}, [
      el("caption", { className: "visually-hidden", text: `Attempts of ${delivery.webhook_id}` }),
      el("thead", {}, [headRow]), el("tbody", {}, rows),
    ]);
    return el("div", { className: "delivery" }, [head, el("div", { className: "table-wrap" }, [table])]);
  }

  function timeNode(seconds) {
    const node = el("time");
    setTime(node, seconds);
    return node;
  }

  // -- tasks -----------------------------------------------------------------------------------

  function createRow(task) {
    const rec = { id: task.id, last: {}, detail: null };
    rec.arrow = el("span", { className: "arrow", text: "▸", "aria-hidden": "true" });
    const toggle = el("button", { type: "button", className: "task-id", "aria-expanded": "false" }, [
      rec.arrow, el("span", { className: "mono", text: task.id }),
    ]);
    toggle.addEventListener("click", () => toggleDetail(rec));
    rec.toggle = toggle;
    rec.key = el("td");
    rec.model = el("td", { className: "mono" });
    rec.badge = el("span", { className: "badge" });
    rec.bar = el("progress", { max: 100, value: 0, "aria-hidden": "true" });
    rec.percent = el("span");
    rec.created = el("time");
    rec.etaTime = el("time");
    rec.etaRel = el("span", { className: "muted" });
    rec.failure = el("td", { className: "failure" });
    rec.callback = el("td");
    rec.prompt = el("td", { className: "prompt-cell" });
    const cells = [
      el("td", {}, [toggle]),
      rec.key,
      rec.model,
      el("td", {}, [rec.badge]),
      el("td", {}, [el("div", { className: "progress" }, [rec.bar, rec.percent])]),
      el("td", {}, [rec.created]),
      el("td", {}, [rec.etaTime, " ", rec.etaRel]),
      rec.failure,
      rec.callback,
      rec.prompt,
    ];
    cells.forEach((cell, i) => cell.setAttribute("data-label", COLUMNS[i]));
    rec.row = el("tr", { className: "task" }, cells);
    return rec;
  }

  function updateRow(rec, task) {
    setText(rec.key, task.api_key || "—");
    setText(rec.model, task.model);
    if (rec.last.status !== task.status) {
      rec.badge.className = `badge ${task.status}`;
      setText(rec.badge, task.status);
    }
    if (rec.last.progress !== task.progress) {
      rec.bar.value = task.progress;
      setText(rec.percent, `${task.progress}%`);
    }
    setTime(rec.created, task.created);
    const eta = task.created + task.estimated_time;
    setTime(rec.etaTime, eta);
    setText(rec.etaRel, TERMINAL.has(task.status) ? "" : relative(eta));
    setText(rec.failure, task.error_code || "");
    if (rec.failure.title !== (task.error_message || "")) rec.failure.title = task.error_message || "";
    const summary = callbackSummary(task);
    const summaryKey = `${summary.badge}|${summary.text}`;
    if (rec.last.callback !== summaryKey) {
      rec.last.callback = summaryKey;
      rec.callback.replaceChildren(
        ...(summary.badge ? [el("span", { className: `badge ${summary.badge}`, text: summary.badge }), " "] : []),
        summary.text,
      );
    }
    setText(rec.prompt, task.prompt);
    if (rec.prompt.title !== task.prompt) rec.prompt.title = task.prompt;
    rec.last.status = task.status;
    rec.last.progress = task.progress;
  }

  function toggleDetail(rec) {
    const open = !state.expanded.has(rec.id);
    if (open) state.expanded.add(rec.id);
    else state.expanded.delete(rec.id);
    rec.toggle.setAttribute("aria-expanded", String(open));
    setText(rec.arrow, open ? "▾" : "▸");
    if (open) rec.toggle.setAttribute("aria-controls", domId("detail-", rec.id));
    else rec.toggle.removeAttribute("aria-controls");
    if (rec.task) {
      if (open) {
        ensureDetail(rec);
        updateDetail(rec, rec.task);
        rec.row.after(rec.detail);
      } else if (rec.detail) {
        rec.detail.remove();
      }
    }
  }

  function ensureDetail(rec) {
    if (rec.detail) return;
    rec.timeline = el("ol", { className: "timeline" });
    rec.info = el("dl");
    rec.cancelButton = el("button", { type: "button", className: "secondary", text: "Cancel task" });
    rec.cancelButton.addEventListener("click", () => act("Cancelling the task", async () => {
      try {
        await api("POST", `/_mock/tasks/${encodeURIComponent(rec.id)}/cancel`);
      } catch (error) {
        if (error.noRoute) {
          state.cancel = false; // hides every cancel button from now on
          throw new Error("this server cannot cancel tasks");
        }
        throw error;
      }
      return `Cancelled ${rec.id}.`;
    }));
    rec.replayButton = el("button", { type: "button", className: "secondary", text: "Replay callback" });
    rec.replayButton.addEventListener("click", () => act("Replaying the callback", async () => {
      await api("POST", `/_mock/callbacks/${encodeURIComponent(rec.id)}/replay`);
      return `Replaying the callback of ${rec.id}.`;
    }));
    rec.attempts = el("div");
    rec.player = el("div", { className: "player" });
    const timelineHeading = domId("timeline-", rec.id);
    const callbacksHeading = domId("callbacks-", rec.id);
    const left = el("section", { "aria-labelledby": timelineHeading }, [
      el("h3", { id: timelineHeading, text: "Timeline" }), rec.timeline, rec.info, rec.player,
      el("div", { className: "actions" }, [rec.cancelButton, rec.replayButton]),
    ]);
    const right = el("section", { "aria-labelledby": callbacksHeading }, [
      el("h3", { id: callbacksHeading, text: "Callback attempts" }), rec.attempts,
    ]);
    const cell = el("td", { colSpan: COLUMNS.length }, [el("div", { className: "detail-grid" }, [left, right])]);
    rec.detail = el("tr", { className: "detail", id: domId("detail-", rec.id) }, [cell]);
    rec.last.timeline = rec.last.info = rec.last.attempts = null;
  }

  function timelineItem(label, seconds, note) {
    return el("li", {}, [
      el("span", { className: "label", text: label }),
      seconds === null ? "—" : el("time", { dateTime: iso(seconds) || "", text: dateTime(seconds) }),
      note ? el("span", { className: "muted", text: ` ${note}` }) : null,
    ]);
  }

  function updateDetail(rec, task) {
    const terminal = TERMINAL.has(task.status);
    const timelineKey = JSON.stringify([task.status, task.started, task.ends_at, state.now]);
    if (rec.last.timeline !== timelineKey) {
      rec.last.timeline = timelineKey;
      const neverProcessed = task.status === "failed" && task.ends_at <= task.started;
      const endLabel = task.status === "completed" ? "Completed" : task.status === "failed" ? "Failed" : "Expected end";
      rec.timeline.replaceChildren(
        timelineItem("Created", task.created, null),
        neverProcessed
          ? el("li", {}, [el("span", { className: "label", text: "Processing from" }), "— (failed before processing)"])
          : timelineItem("Processing from", task.started, task.status === "pending" ? `(${relative(task.started)})` : null),
        timelineItem(endLabel, task.ends_at, terminal ? null : `(${relative(task.ends_at)})`),
        timelineItem("Promised by", task.created + task.estimated_time, `(estimated_time ${task.estimated_time} s)`),
      );
    }
    const infoKey = JSON.stringify([task.prompt, task.callback_url, task.error_code, task.api_key, task.model]);
    if (rec.last.info !== infoKey) {
      rec.last.info = infoKey;
      const items = [["Key", task.api_key || "—"], ["Model", task.model], ["Prompt", task.prompt],
        ["Callback URL", task.callback_url || "none"]];
      if (task.error_code) items.push(["Failure", `${task.error_code}: ${task.error_message || ""}`]);
      rec.info.replaceChildren(...items.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]));
    }
    if (rec.last.video !== task.video_url) {
      // a completed task's result plays inline, from this server (the CSP's 'self')
      rec.last.video = task.video_url;
      rec.player.replaceChildren(...(task.video_url
        ? [el("video", { controls: true, preload: "metadata", src: task.video_url, "aria-label": `Result of ${task.id}` })]
        : []));
    }
    rec.cancelButton.hidden = terminal || state.cancel === false;
    rec.replayButton.hidden = !(terminal && task.callback_url && state.callbacks);
    const deliveries = state.deliveries.get(task.id) || [];
    const attemptsKey = JSON.stringify([state.callbacks, Boolean(task.callback_url), terminal, deliveries]);
    if (rec.last.attempts !== attemptsKey) {
      rec.last.attempts = attemptsKey;
      let note = null;
      if (!state.callbacks) note = "This server has no callbacks.";
      else if (!task.callback_url) note = "No callback URL.";
      else if (!deliveries.length) note = terminal ? "None sent." : "Sent when the task ends.";
      rec.attempts.replaceChildren(...(note ? [el("p", { className: "note", text: note })] : deliveries.map(deliveryView)));
    }
  }

  function placeRows(tbody, order) {
    // Move only what is out of place, so focus and scroll stay where they are.
    let cursor = tbody.firstChild;
    for (const node of order) {
      if (node === cursor) cursor = cursor.nextSibling;
      else tbody.insertBefore(node, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
  }

  function renderTasks(tasks, total) {
    const seen = new Set();
    const order = [];
    for (const task of tasks) {
      seen.add(task.id);
      let rec = state.rows.get(task.id);
      if (!rec) {
        rec = createRow(task);
        state.rows.set(task.id, rec);
      }
      rec.task = task;
      updateRow(rec, task);
      order.push(rec.row);
      if (state.expanded.has(task.id)) {
        ensureDetail(rec);
        updateDetail(rec, task);
        order.push(rec.detail);
      }
    }
    for (const id of [...state.rows.keys()]) {
      if (!seen.has(id)) {
        state.rows.delete(id);
        state.expanded.delete(id);
      }
    }
    placeRows(document.querySelector("#tasks > tbody"), order);
    setText(byId("task-count"), tasks.length < total ? `(${tasks.length} of ${total} shown)` : `(${total})`);
    byId("tasks-empty").hidden = tasks.length > 0;
    if (!state.rendered) {
      state.rendered = true;
      performance.mark("mock-ui:first-render"); // the browser test reads this
    }
  }

  // -- uploaded files --------------------------------------------------------------------------

  function size(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  }

  function createFileRow(file) {
    const rec = {
      expires: el("span", { className: "muted" }),
      uploaded: timeNode(file.uploaded),
    };
    const thumb = el("img", { src: file.url, alt: `${file.original_name}, ${file.width}x${file.height}`,
      className: "thumb", loading: "lazy", decoding: "async" });
    const link = el("a", { href: file.url, text: file.id, target: "_blank", rel: "noopener" });
    rec.row = el("tr", { id: domId("file-", file.id), "data-file": file.id }, [
      el("td", {}, [thumb]),
      el("td", { className: "mono" }, [link]),
      el("td", { className: "mono", text: file.api_key || "—" }),
      el("td", { text: file.original_name, title: `stored as ${file.upload_path}/${file.file_name}` }),
      el("td", { text: file.mime_type }),
      el("td", { text: size(file.size) }),
      el("td", { text: `${file.width}x${file.height}` }),
      el("td", {}, [rec.uploaded]),
      el("td", {}, [timeNode(file.expires), " ", rec.expires]),
    ]);
    return rec;
  }

  function renderFiles(answer) {
    const section = byId("files-section");
    if (answer === null) { // a server without the files API: no section
      state.files = false;
      section.hidden = true;
      return;
    }
    state.files = true;
    const files = answer.data;
    const seen = new Set();
    const order = [];
    for (const file of files) {
      seen.add(file.id);
      let rec = state.fileRows.get(file.id);
      if (!rec) {
        rec = createFileRow(file);
        state.fileRows.set(file.id, rec);
      }
      setText(rec.expires, relative(file.expires));
      order.push(rec.row);
    }
    for (const id of [...state.fileRows.keys()]) {
      if (!seen.has(id)) state.fileRows.delete(id);
    }
    placeRows(document.querySelector("#files > tbody"), order);
    const total = Number(answer.response.headers.get("X-Total-Count"));
    const all = Number.isFinite(total) ? total : files.length;
    setText(byId("file-count"), files.length < all ? `(${files.length} of ${all} shown)` : `(${all})`);
    byId("files-empty").hidden = files.length > 0;
  }

  // -- start -----------------------------------------------------------------------------------

  function start() {
    byId("clock-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = byId("advance-seconds").value.trim();
      advance(text === "" ? NaN : Number(text));
    });
    for (const button of document.querySelectorAll("#clock-form button[data-seconds]")) {
      button.addEventListener("click", () => advance(Number(button.dataset.seconds)));
    }
    byId("fault-form").addEventListener("submit", injectFault);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) poll();
    });
    byId("login-form").addEventListener("submit", unlock);
    begin();
  }

  async function begin() {
    // the health check is open: it says whether a token is needed, so that a locked server is
    // asked for one before any refused request
    let needsToken = false;
    try {
      const { data } = await api("GET", "/_mock/health");
      needsToken = Boolean(data && data.admin_token_required);
    } catch {
      needsToken = false; // unreachable: polling reports it
    }
    if (needsToken && !(storedToken() || state.memoryToken)) {
      lock("This server's admin routes need its admin token.");
      return;
    }
    loadScenarios();
    poll();
  }

  start();
})();
