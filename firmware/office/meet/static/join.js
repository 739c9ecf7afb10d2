// The join page: code -> seats -> identity, over one WebSocket to the relay (docs/meet.md §2).
// No third-party code, no storage but the resume token of this meeting in sessionStorage.
//
// For the call (call.js) it raises DOM events on document:
//   dualrec-admitted  detail: the relay's admitted frame (party, roles, ice_servers, ...);
//                     again after every resume (a reload, a reconnection): a new call then
//   dualrec-signal    detail: a signalling message from the unit ({kind: "answer", sdp})
//   dualrec-offline   the WebSocket dropped while joined; the page reconnects and resumes
//   dualrec-ended     detail: {reason}; the meeting is over for this page (no reconnection)
// and offers window.dualrecMeet: send(signal) -> bool, online (joined on an open WebSocket),
// rejoin() (a new WebSocket that resumes with the token: fresh ICE credentials).
"use strict";
(function () {
  const meeting = location.pathname.split("/").pop();
  const tokenKey = "dualrec-meet-" + meeting;
  const $ = (id) => document.getElementById(id);
  const REASONS = {
    wrong_code: "会议码不正确", identity_mismatch: "姓名或证件号码后 4 位与投保信息不符",
    expired: "会议码已过期，请联系销售人员", locked: "尝试次数过多，会议码已锁定，请联系销售人员",
    closed: "会议已结束", full: "所有身份均已加入", seat_taken: "该身份已有人加入",
    bad_grant: "请重新输入会议码", bad_token: "请重新输入会议码", malformed: "输入有误",
    rate_limited: "尝试过于频繁，请稍后再试", unit_unreachable: "柜台设备暂时无法连接，请稍后再试",
    unknown_meeting: "会议不存在或已结束", too_many_connections: "连接过多，请稍后再试",
    replaced: "您已在其他页面加入", idle: "长时间未操作，连接已断开", time_up: "会议时间已到",
  };
  // a bye for one of these ends the meeting for this page; any other drop reconnects
  const FINAL = new Set(["closed", "replaced", "time_up", "unknown_meeting", "hangup",
                         "timeout", "error"]);
  const MAX_RETRIES = 8;          // 1, 2, 4, 8, then 15 s apart: about a minute and a half
  let ws = null;
  let ended = false;              // nothing more to reconnect for
  let resuming = false;
  let retries = 0;

  function show(step) {
    document.body.dataset.step = step;
    $("code-form").hidden = step !== "code";
    $("identify-form").hidden = step !== "identify";
    $("joined").hidden = step !== "joined";
  }
  function say(text, kind) {
    $("status").textContent = text;
    $("status").dataset.kind = kind || "info";
  }
  function raise(name, detail) {
    document.dispatchEvent(new CustomEvent(name, {detail: detail}));
  }
  function send(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }
  function end(reason) {
    if (ended) return;
    ended = true;
    raise("dualrec-ended", {reason: reason});
  }

  function choices(list) {
    const box = $("seats");
    box.querySelectorAll("label").forEach((el) => el.remove());
    for (const c of list) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox"; input.value = String(c.seat); input.name = "seat";
      label.append(input, " " + c.label + "（" + c.initial + "）");
      box.append(label);
    }
    show("identify");
    say("请选择身份并确认");
  }

  function onMeeting(frame) {
    const step = document.body.dataset.step;
    const token = sessionStorage.getItem(tokenKey);
    if (step !== "connecting" && step !== "joined") {        // the state changed meanwhile
      if (frame.status !== "open") say(REASONS[frame.status] || "会议不可加入", "error");
      return;
    }
    if (token) {                  // a reload or a reconnection: resuming works even locked
      if (resuming) return;
      resuming = send({type: "resume", token: token});
      say("正在重新加入…");
    } else if (frame.status !== "open") {
      say(REASONS[frame.status] || "会议不可加入", "error");
    } else {
      show("code"); say("请输入会议码");
    }
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "meeting": onMeeting(frame); break;
      case "choices": choices(frame.choices); break;
      case "admitted":
        resuming = false; retries = 0;
        sessionStorage.setItem(tokenKey, frame.token);
        $("roles").textContent = frame.roles.map((r) => ({policyholder: "投保人",
          insured: "被保险人", guardian: "监护人"})[r] || r).join("、");
        show("joined"); say("已加入");
        raise("dualrec-admitted", frame);
        break;
      case "refused":
        if (frame.step === "resume") {
          resuming = false;
          sessionStorage.removeItem(tokenKey);
          if (document.body.dataset.step === "joined") end(frame.reason);
          if (frame.reason === "closed") { show("ended"); ended = true; }
          else show("code");
        } else if (frame.reason === "bad_grant") show("code");
        say((REASONS[frame.reason] || "无法加入") +
            (frame.tries_left !== undefined && frame.tries_left > 0 ?
             "（还可尝试 " + frame.tries_left + " 次）" : ""), "error");
        break;
      case "signal":
        raise("dualrec-signal", frame.signal);
        break;
      case "bye":
        say(REASONS[frame.reason] || "连接已结束", "error");
        if (FINAL.has(frame.reason)) end(frame.reason);
        break;
      case "error":
        say(REASONS[frame.reason] || "连接已结束", "error");
        if (frame.reason === "unknown_meeting") end(frame.reason);
        break;
    }
  }

  function onClose() {
    resuming = false;
    if (ended) return;
    if (document.body.dataset.step !== "joined" || !sessionStorage.getItem(tokenKey)) {
      say("连接已断开，请刷新本页面", "error");
      return;
    }
    raise("dualrec-offline");
    if (retries >= MAX_RETRIES) {
      say("网络连接已断开，请检查网络后刷新本页面", "error");
      end("offline");
      return;
    }
    const delay = Math.min(1000 * 2 ** retries, 15000);
    retries += 1;
    say("网络连接中断，正在重新连接…");
    setTimeout(connect, delay);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/ws/" + meeting);
    ws.addEventListener("message", (e) => onFrame(JSON.parse(e.data)));
    ws.addEventListener("close", onClose);
  }

  $("code-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (send({type: "code", code: $("code").value.trim()})) say("正在核对…");
    else say("连接已断开，请刷新本页面", "error");
  });
  $("identify-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const seats = [...document.querySelectorAll("input[name=seat]:checked")]
      .map((el) => Number(el.value));
    if (!seats.length) { say("请至少选择一个身份", "error"); return; }
    if (send({type: "identify", seats: seats, name: $("name").value.trim(),
              id_last4: $("id-last4").value.trim().toUpperCase()})) say("正在核对身份…");
    else say("连接已断开，请刷新本页面", "error");
  });

  window.dualrecMeet = {
    send: (signal) => send({type: "signal", signal: signal}),
    get online() {
      return !ended && !resuming && document.body.dataset.step === "joined" &&
        ws !== null && ws.readyState === WebSocket.OPEN;
    },
    rejoin: () => { if (!ended && ws) ws.close(); },
  };
  connect();
})();
