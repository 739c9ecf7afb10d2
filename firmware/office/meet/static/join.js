// The join page: code -> seats -> identity, over one WebSocket to the relay (docs/meet.md §4).
// No third-party code, no storage but the resume token of this meeting in sessionStorage.
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
  let ws = null;

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
  function send(frame) { ws.send(JSON.stringify(frame)); }

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

  function onFrame(frame) {
    switch (frame.type) {
      case "meeting":
        if (frame.status !== "open") { say(REASONS[frame.status] || "会议不可加入", "error"); return; }
        if (document.body.dataset.step !== "connecting") return;
        const token = sessionStorage.getItem(tokenKey);
        if (token) { send({type: "resume", token: token}); say("正在重新加入…"); }
        else { show("code"); say("请输入会议码"); }
        break;
      case "choices": choices(frame.choices); break;
      case "admitted":
        sessionStorage.setItem(tokenKey, frame.token);
        $("roles").textContent = frame.roles.map((r) => ({policyholder: "投保人",
          insured: "被保险人", guardian: "监护人"})[r] || r).join("、");
        show("joined"); say("已加入");
        document.dispatchEvent(new CustomEvent("dualrec-admitted", {detail: frame}));
        break;
      case "refused":
        if (frame.step === "resume") { sessionStorage.removeItem(tokenKey); show("code"); }
        else if (frame.reason === "bad_grant") show("code");
        say((REASONS[frame.reason] || "无法加入") +
            (frame.tries_left !== undefined && frame.tries_left > 0 ?
             "（还可尝试 " + frame.tries_left + " 次）" : ""), "error");
        break;
      case "signal":
        document.dispatchEvent(new CustomEvent("dualrec-signal", {detail: frame.signal}));
        break;
      case "bye": case "error":
        say(REASONS[frame.reason] || "连接已结束", "error"); break;
    }
  }

  $("code-form").addEventListener("submit", (e) => {
    e.preventDefault();
    send({type: "code", code: $("code").value.trim()});
    say("正在核对…");
  });
  $("identify-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const seats = [...document.querySelectorAll("input[name=seat]:checked")]
      .map((el) => Number(el.value));
    if (!seats.length) { say("请至少选择一个身份", "error"); return; }
    send({type: "identify", seats: seats, name: $("name").value.trim(),
          id_last4: $("id-last4").value.trim().toUpperCase()});
    say("正在核对身份…");
  });

  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  ws = new WebSocket(scheme + location.host + "/ws/" + meeting);
  ws.addEventListener("message", (e) => onFrame(JSON.parse(e.data)));
  ws.addEventListener("close", () => {
    if (document.body.dataset.step !== "joined") say("连接已断开", "error");
  });
  window.dualrecMeet = { send: (signal) => send({type: "signal", signal: signal}) };
})();
