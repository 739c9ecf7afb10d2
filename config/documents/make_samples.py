"""Make the sample document set of this directory: 投保提示书, 条款, 责任免除 as PDFs.

A development tool (not installed on the unit): ``python config/documents/make_samples.py``.
It needs reportlab (text PDFs with the font embedded as a subset, so pdfium renders them the
same everywhere) and the WenQuanYi Zen Hei font of Debian's ``fonts-wqy-zenhei``. The output is
reproducible (reportlab's invariant mode) for the same reportlab and font; the committed files
and ``manifest.toml`` are what the tests use, so regenerating is only needed to change them.
The product is fictional; the texts paraphrase the usual headings of such documents.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

FONT_FILE = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
PRODUCT = "安心终身寿险（示例产品）"
HERE = Path(__file__).resolve().parent

NOTICE = [
    ("投保提示书", None),
    ("尊敬的投保人：", "感谢您选择本公司的保险产品。为保护您的合法权益，请您在投保前仔细阅读"
     "本提示书、保险条款及责任免除条款，确认理解后再签名。"),
    ("一、保险产品的性质", f"您投保的“{PRODUCT}”是人身保险产品，不是存款，也不是银行理财产品。"
     "保险合同由保险公司承担保险责任，银行仅为代理销售机构。"),
    ("二、犹豫期", "自您签收保险合同次日起十五日内为犹豫期。犹豫期内您可以申请解除合同，"
     "保险公司将在扣除不超过十元的工本费后退还全部保险费。"),
    ("三、退保损失", "犹豫期后解除合同，您只能领取保单的现金价值，可能少于您已交的保险费，"
     "会有一定损失。"),
    ("四、如实告知", "订立合同时，保险公司就被保险人的有关情况提出询问的，您应当如实告知。"
     "未如实告知可能影响合同效力及保险金的给付。"),
    ("五、缴费", "请按合同约定按时交纳保险费。逾期未交的，合同可能中止，影响您的保障。"),
    ("六、回访与咨询", "保险公司将在合同生效后进行电话回访，请您如实回答。"
     "如有疑问，请拨打保险公司的客户服务电话。"),
]
TERMS = [
    ("保险条款", None),
    ("第一条 合同构成", "本合同由保险条款、保险单、投保单、与本合同有关的投保文件、"
     "声明、批注、附贴批单及其他书面协议构成。"),
    ("第二条 投保范围", "凡出生满二十八日至六十五周岁、身体健康者，均可作为被保险人。"),
    ("第三条 保险期间", "本合同的保险期间为被保险人终身，自本合同生效日零时起计算。"),
    ("第四条 保险责任", "在本合同保险期间内，被保险人身故的，保险公司按下列两项中的较大者"
     "给付身故保险金，本合同终止：（一）已交保险费；（二）身故当时本合同的现金价值。"),
    ("第五条 保险费的交纳", "本合同的交费方式和交费期间由您在投保时选择，并在保险单上载明。"),
    ("第六条 宽限期", "分期支付保险费的，您支付首期保险费后，除本合同另有约定外，"
     "如果您到期未支付保险费，自保险费约定支付日的次日零时起六十日为宽限期。"),
    ("第七条 现金价值权益", "本合同的现金价值为保险单所具有的价值，通常体现为解除合同时"
     "根据精算原理计算的、由保险公司退还的那部分金额。"),
    ("第八条 保单贷款", "在本合同有效期内，经保险公司审核同意后您可办理保单贷款，"
     "贷款金额不得超过保险单的现金价值扣除各项欠款后余额的百分之八十。"),
    ("第九条 合同解除", "您可以在本合同有效期内申请解除本合同。您申请解除本合同时，"
     "请填写解除合同申请书并提供相关证明。"),
]
EXCLUSIONS = [
    ("责任免除条款", None),
    ("重要提示", "以下情形保险公司不承担给付保险金的责任，请您务必仔细阅读，"
     "确认理解后在确认栏签名。"),
    ("第一条 责任免除", "因下列情形之一导致被保险人身故的，保险公司不承担给付保险金的责任："),
    ("（一）", "投保人对被保险人的故意杀害、故意伤害；"),
    ("（二）", "被保险人故意犯罪或者抗拒依法采取的刑事强制措施；"),
    ("（三）", "被保险人自本合同成立或者合同效力恢复之日起二年内自杀，"
     "但被保险人自杀时为无民事行为能力人的除外；"),
    ("（四）", "被保险人主动吸食或注射毒品；"),
    ("（五）", "被保险人酒后驾驶、无合法有效驾驶证驾驶，或驾驶无有效行驶证的机动车；"),
    ("（六）", "战争、军事冲突、暴乱或武装叛乱；"),
    ("（七）", "核爆炸、核辐射或核污染。"),
    ("第二条 处理方式", "发生上述第（一）项情形导致被保险人身故的，本合同终止，"
     "保险公司向被保险人的继承人退还本合同的现金价值。发生上述其他情形导致被保险人身故的，"
     "本合同终止，保险公司向您退还本合同的现金价值。"),
]
DOCUMENTS = [
    ("toubao-tishishu.pdf", "投保提示书", 5, NOTICE),
    ("baoxian-tiaokuan.pdf", "保险条款", 5, TERMS),
    ("zeren-mianchu.pdf", "责任免除条款", 8, EXCLUSIONS),
]


def _styles() -> dict[str, ParagraphStyle]:
    base = dict(fontName="WQY", wordWrap="CJK")
    return {"title": ParagraphStyle("title", fontSize=30, leading=40, alignment=1,
                                    spaceAfter=8 * mm, **base),
            "product": ParagraphStyle("product", fontSize=16, leading=22, alignment=1,
                                      spaceAfter=10 * mm, **base),
            "heading": ParagraphStyle("heading", fontSize=20, leading=28, spaceBefore=5 * mm,
                                      spaceAfter=2 * mm, keepWithNext=1, **base),
            "body": ParagraphStyle("body", fontSize=17, leading=27, firstLineIndent=34,
                                   **base)}


def _footer(title: str):
    def draw(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("WQY", 11)
        canvas.setFillGray(0.4)
        canvas.drawString(20 * mm, 12 * mm, f"{title} · 样本文件，仅供测试")
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"第 {doc.page} 页")
        canvas.restoreState()
    return draw


def make(path: Path, title: str, sections: list, per_page: int) -> None:
    styles = _styles()
    story: list = []
    for i, (heading, text) in enumerate(sections):
        if text is None:
            story += [Paragraph(heading, styles["title"]), Paragraph(PRODUCT, styles["product"])]
            continue
        if i > 1 and (i - 1) % per_page == 0:
            story.append(PageBreak())
        story += [Paragraph(heading, styles["heading"]), Paragraph(text, styles["body"]),
                  Spacer(1, 2 * mm)]
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=22 * mm, bottomMargin=22 * mm, title=title,
                            author="dualrec sample", invariant=1)
    doc.build(story, onFirstPage=_footer(title), onLaterPages=_footer(title))


def main(out: Path = HERE) -> int:
    pdfmetrics.registerFont(TTFont("WQY", FONT_FILE, subfontIndex=0))
    lines = ["# The sample document library: PDFs shown at reading nodes, named by SHA-256.",
             "# Made by make_samples.py (reportlab, WenQuanYi Zen Hei); the product is fictional.",
             ""]
    for name, title, per_page, sections in DOCUMENTS:
        path = out / name
        make(path, title, sections, per_page)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        lines += ["[[document]]", f'sha256 = "{sha}"', f'file = "{name}"', f'title = "{title}"',
                  "min_page_seconds = 5", ""]
        print(f"{sha}  {name}")
    (out / "manifest.toml").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
