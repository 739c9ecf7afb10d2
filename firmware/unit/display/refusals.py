"""Why NEXT was refused, in words the salesperson can act on, and what a node still needs.

The session flow refuses NEXT with a reason code (``min_duration``, ``missing_answer``, ...); the
screen shows the sentence here: what is missing and what to do about it. Remote parties' codes
are those of :mod:`firmware.unit.session.remote_parties` (``remote_not_joined``, ...) and
:mod:`firmware.unit.session.remote_screen` (``remote_reading``, ``remote_signing``); an
unknown ``remote_*`` code still gets words about remote parties, and any other unknown code is
shown with the code itself, so a new reason is never silently blank.
"""
from __future__ import annotations

REFUSAL_WORDS: dict[str, str] = {
    "prompt_playing": "提示语还在播放：请听完本段提示后再按“下一步”。",
    "min_duration": "本环节还未到最短时长：请等倒计时结束后再按“下一步”。",
    "missing_photo": "还没有拍到照片：请把证件或单证正对摄像头，保持不动两秒。",
    "missing_answer": "还没有听到客户的回答：请客户清楚地回答后再继续。",
    "answer_negative": "客户的回答是否定的：请向客户解释清楚，再按“重播”重新询问。",
    "answer_unclear": "没有听清客户的回答：请客户靠近设备，完整地再回答一次。",
    "answer_not_asked": "有远程参与人在提问之后才加入，还没有被问到：请按“重播”再问一次。",
    "missing_signature": "还没有签名：请客户在签字板上签名。",
    "missing_badge": "还没有识别到工牌：请销售人员把工牌二维码对准摄像头。",
    "signing": "客户正在签名：请等签完（笔离开签字板）后再继续。",
    "pages_unread": "还有页面没有阅读：请客户在屏幕上翻阅每份文件的每一页，并点“我已阅读”。",
    "document_missing": "本环节要展示的文件在设备上缺失或已被改动，无法继续：请联系运维更新设备的文件库。",
    "display_fault": "客户屏幕出现故障，无法展示文件：请联系运维；如需结束，请长按录制键。",
    "script_complete": "所有环节已完成：请长按录制键结束录制。",
    "remote_not_joined": "还有远程参与人没有加入：请把会议码告诉对方并等待其加入。",
    "remote_disconnected": "远程参与人已断开连接：请等对方重新加入后再继续。",
    "remote_unavailable": "远程会议无法开启（设备未连接服务器）：请检查网络；如需结束，请长按录制键。",
    "remote_fault": "远程参与人的通话出现故障：请对方重新加入；仍不行请联系运维。",
    "remote_reading": "远程参与人还没有读完文件：请对方在手机上逐页翻阅每份文件，并点“我已阅读”。",
    "remote_signing": "远程参与人还没有签名：请对方在手机屏幕上用手指签名，并点“确认签名”。",
}
REMOTE_PARTY_WORDS = "远程参与人尚未完成本环节：请等待对方完成。"
UNKNOWN_WORDS = "暂时不能进入下一步（原因代码 {code}）：请联系运维。"

NEED_WORDS: dict[str, str] = {
    "answer": "请客户回答",
    "photo": "请出示证件或单证拍照",
    "signature": "请客户签名",
    "pages": "请阅读文件",
    "badge": "请出示工牌",
}
NEEDS = tuple(NEED_WORDS)


def refusal_words(code: str) -> str:
    """The sentence the screen shows for a refusal ``code``."""
    if code in REFUSAL_WORDS:
        return REFUSAL_WORDS[code]
    if code.startswith("remote_"):
        return REMOTE_PARTY_WORDS
    return UNKNOWN_WORDS.format(code=code)
