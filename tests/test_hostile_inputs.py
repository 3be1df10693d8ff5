"""Hostile and malformed inputs (issue 8): the same corpus of about seventy inputs through the file
loader (`crawler load FOLDER`) and the crawler (`crawler crawl SOURCE` against the local test site),
each a real process. Every input must end in exactly one ledger row with its expected state and
reason, real articles in four languages must be stored with their text, and each path must finish
within its deadline with bounded memory (peak resident set of the whole process tree, sampled from
/proc).

The corpus is one function, `corpus()`, so both paths see the same bytes. The file loader goes by
the file name's extension (it has no header); the crawl goes by the Content-Type header the test
site sends. Where that makes the outcome differ, the expected value says so (`Expect.crawl`).
"""

from __future__ import annotations

import codecs
import os
import random
import resource
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pytest

from tests.conftest import check_ledger, crawler_subprocess, query
from tests.site import Site, serve
from tests.test_crawl import sources_file
from tests.test_worker import PARAGRAPH, SLOW_PAGE, nested

# --- real articles: (language, title, paragraphs), each distinct, none a near-copy of another ---
# fmt: off
EN_BRIDGE = ("en", "River bridge closes for six weeks of repairs", [
    "The old stone bridge over the river will close to cars on the first of March while engineers replace its worn bearings and resurface the deck.",
    "Buses will be diverted through the northern ring road, adding about ten minutes to the journey into the market square.",
    "The council said pedestrians and cyclists can still cross on a temporary walkway fixed to the eastern side of the bridge.",
])
EN_LUNCH = ("en", "School meals to include fresh fruit every day", [
    "Every primary school in the district will serve a portion of fresh fruit with lunch from the autumn term, the education office confirmed on Thursday.",
    "The scheme is paid for by a grant from the regional health fund and will be reviewed after one school year.",
    "Parents who took part in the consultation mostly asked for less sugar in desserts and more vegetables in the main course.",
])
EN_WEATHER = ("en", "Weather station records the wettest April in forty years", [
    "The hilltop station measured 182 millimetres of rain in April, more than twice the long-term average for the month.",
    "Farmers said the fields were too wet to plough & that sowing would start at least three weeks late.",
    "Forecasters expect a drier May, but they warned that the rivers will stay high until the middle of the month.",
])
EN_TRAINS = ("en", "Night trains return to the coastal line", [
    "Sleeper trains will run again between the capital and the coast from June, after a break of almost a decade.",
    "The operator bought twelve refurbished carriages and plans three departures a week in each direction during the summer.",
    "Tickets go on sale next month, with cabins for two people and cheaper reclining seats in a separate coach.",
])
EN_MAPS = ("en", "Museum opens a gallery of maritime maps", [
    "The city museum has opened a new gallery showing more than two hundred maps and charts drawn by sailors between 1600 and 1850.",
    "Curators spent three years restoring the paper, some of which had been damaged by damp in a harbour warehouse.",
    "Entry to the gallery is free on the first Sunday of every month, and school groups can book guided visits.",
])
EN_TREES = ("en", "Volunteers plant a thousand trees along the canal", [
    "More than two hundred volunteers spent Saturday planting oak, birch and alder saplings along the towpath of the old canal.",
    "The trust that manages the waterway hopes the trees will shade the water and give nesting birds more cover.",
    "Each sapling was paid for by a local family or business, and a map of the new trees is posted at the lock.",
])
EN_BAKERY = ("en", "Bakery cooperative opens its second shop", [
    "A cooperative bakery owned by its twenty staff opened a second shop near the railway station on Monday morning.",
    "The members decided to keep prices the same as in the first shop and to sell the previous day's bread at half price.",
    "Queues formed before seven, and the sourdough loaves had sold out by the middle of the afternoon.",
])
EN_SEALS = ("en", "Harbour seals counted in record numbers", [
    "Researchers counted more than six hundred harbour seals on the sandbanks at the mouth of the estuary this summer.",
    "The number has grown every year since fishing nets were banned from the inner channel.",
    "Boat trips to watch the seals now leave twice a day, and the skippers are asked to keep fifty metres from the animals.",
])
EN_FERRY = ("en", "Island ferry moves to its winter timetable", [
    "From the last Sunday in October the island ferry will sail four times a day instead of seven, the operator said.",
    "The first boat leaves the mainland at half past six, so that commuters and pupils still reach town before eight.",
    "Freight bookings for lorries must now be made two days ahead, because the smaller winter vessel carries fewer vehicles.",
])
EN_ARCHIVE = ("en", "Town archive puts a century of newspapers online", [
    "The town archive has scanned every issue of the local weekly newspaper published between 1890 and 1990.",
    "Readers can search the pages by name, street or date from home, free of charge, on the archive's website.",
    "Volunteers corrected the machine-read text of the oldest issues by hand, where the print had faded.",
])
EN_CLINIC = ("en", "Evening clinic opens for shift workers", [
    "A health centre in the industrial quarter will stay open until ten at night on weekdays, starting in January.",
    "The evening clinic is meant for people who work early shifts and cannot see a doctor during normal hours.",
    "Two nurses and a general practitioner will staff it, and appointments can be booked by phone from the afternoon.",
])
KO_PARK = ("ko", "한강공원에 야간 자전거길 새로 열려", [
    "서울시는 한강공원을 따라 밤에도 안전하게 달릴 수 있는 자전거길을 새로 열었다고 밝혔다.",
    "새 길에는 가로등이 이십 미터 간격으로 설치됐고, 위험 구간마다 속도를 알려 주는 표지판이 붙었다.",
    "시는 이용자 의견을 모아 내년 봄까지 다른 공원에도 같은 시설을 넓혀 갈 계획이다.",
])
KO_MARKET = ("ko", "전통시장 온라인 장보기 서비스 시작", [
    "부산의 한 전통시장이 온라인 주문을 받아 두 시간 안에 집까지 배달하는 서비스를 시작했다.",
    "상인회는 채소와 생선처럼 신선도가 중요한 상품을 중심으로 첫 달 동안 배달비를 받지 않기로 했다.",
    "구청은 이용자가 늘면 주변 시장으로 서비스를 확대할 수 있도록 예산을 지원하겠다고 밝혔다.",
])
KO_LIBRARY = ("ko", "도서관 무인 대출기 설치", [
    "대구의 모든 구립 도서관에 무인 대출기와 반납기가 설치되어 밤늦게까지 책을 빌릴 수 있게 됐다.",
    "도서관 측은 직장인 이용자가 많아 저녁 시간대 대출이 두 배 이상 늘 것으로 내다봤다.",
    "대출 카드가 없는 시민도 휴대전화 인증만으로 바로 회원 가입을 할 수 있다.",
])
KO_TRACTOR = ("ko", "농촌 마을에 공유 트랙터 도입", [
    "전라남도의 작은 농촌 마을 열두 곳이 트랙터를 함께 쓰는 공유 제도를 올해부터 시행한다.",
    "농민들은 예약 앱으로 사용 날짜를 정하고, 기계 관리는 마을 협동조합이 맡는다.",
    "도는 시범 사업의 결과를 보고 내년에는 참여 마을을 두 배로 늘릴 예정이다.",
])
KO_DIVERS = ("ko", "제주 해녀 학교 신입생 모집", [
    "제주의 해녀 학교가 올해 신입생 서른 명을 모집한다고 발표했다.",
    "교육 과정은 여섯 달 동안 이어지며, 잠수 기술과 바다 안전 수칙, 전통 노래를 함께 배운다.",
    "학교 측은 지난해 졸업생 가운데 절반 이상이 실제로 물질을 시작했다고 설명했다.",
])
JA_TEMPLE = ("ja", "京都の寺院、夜間拝観を再開", [
    "京都市内の複数の寺院は、秋の紅葉の時期に合わせて夜間の特別拝観を三年ぶりに再開すると発表した。",
    "境内の庭園は照明で照らされ、参拝者は午後九時まで散策することができる。",
    "混雑を避けるため、今年は事前予約制とし、一時間ごとの入場者数に上限を設ける。",
])
JA_DAIRY = ("ja", "北海道で新しい酪農研修施設が完成", [
    "北海道の十勝地方に、若い酪農家を育てるための研修施設が完成し、来月から受け入れを始める。",
    "研修生は一年間、牧場に住み込みで牛の世話や牛乳の品質管理を学ぶ。",
    "町は研修を終えた人が地元で独立できるよう、土地の貸し出しも支援する方針だ。",
])
JA_SHOPS = ("ja", "大阪の商店街、キャッシュレス決済を導入", [
    "大阪市の商店街で、すべての店舗がキャッシュレス決済に対応する取り組みが始まった。",
    "商店街の組合は、読み取り端末の費用を半分負担し、店主向けの説明会も開いた。",
    "観光客の多い週末には、売り上げが一割ほど増えたという。",
])
JA_CORAL = ("ja", "沖縄の小学校でサンゴの観察授業", [
    "沖縄県の小学校で、子どもたちが海に入ってサンゴを観察する授業が行われた。",
    "地元の研究者が講師を務め、水温の上昇がサンゴに与える影響について説明した。",
    "参加した児童は、観察した結果を模造紙にまとめて学校の廊下に展示する予定だ。",
])
ZH_METRO = ("zh", "成都新地铁线路年底通车", [
    "成都市轨道交通集团表示，连接机场和市中心的新地铁线路将于今年年底正式通车。",
    "新线路全长四十二公里，设有十八座车站，全程运行时间约为三十五分钟。",
    "市民可以使用交通卡或手机扫码乘车，首月票价将打八折。",
])
ZH_BOOKS = ("zh", "杭州推出共享图书柜", [
    "杭州市图书馆在地铁站和社区中心设立了五十个共享图书柜，市民可以随时借书还书。",
    "每个书柜可存放三百本图书，系统会根据借阅记录自动补充热门书籍。",
    "图书馆计划在明年将书柜数量增加到一百个，覆盖全部城区。",
])
ZH_OLDSTREET = ("zh", "台北老街修復工程完工", [
    "台北市政府宣布，歷時兩年的大稻埕老街修復工程已經完工，街道將於下週重新開放。",
    "工程保留了百年建築的紅磚外牆，並將電線全部改為地下配置。",
    "市府表示，未來週末將舉辦市集與導覽活動，吸引更多遊客前來參觀。",
])
ZH_DRONES = ("zh", "深圳无人机快递试点扩大", [
    "深圳市邮政管理局表示，无人机快递试点将从两个区扩大到全市六个区。",
    "无人机每次可运送五公斤以内的包裹，平均配送时间缩短到二十分钟。",
    "相关部门将对飞行路线进行严格管理，避免飞越学校和医院。",
])
ZH_RIVER = ("zh", "广州开通珠江夜游新航线", [
    "广州市文化旅游局宣布，珠江夜游新航线将于下月开通，游船将经过十座桥梁。",
    "新航线全程约七十分钟，游客可以在船上欣赏两岸的灯光表演。",
    "为减少噪音，所有游船都将改用电力驱动。",
])

EN_POOL = ("en", "Outdoor pool reopens after a long restoration", [
    "The town's open-air swimming pool, built in 1934, reopened on Saturday after a restoration that took almost three years.",
    "The tiled basin was repaired by hand, and a heat pump now keeps the water at twenty-six degrees from May to September.",
    "Season tickets are half price for pupils, and the pool opens at seven on weekdays for early swimmers.",
])
EN_POST = ("en", "Village post office saved by a community shop", [
    "The last post office in the valley will stay open after a group of villagers agreed to run it inside their community shop.",
    "Volunteers were trained to sell stamps, pay out pensions and accept parcels on four mornings a week.",
    "The postal service will pay the shop a small fee for each transaction, which covers the rent of the counter.",
])
KO_LIGHTS = ("ko", "인천대교 야간 조명 교체", [
    "인천시는 인천대교의 야간 조명을 전력 소비가 적은 발광다이오드 조명으로 모두 바꿨다고 밝혔다.",
    "새 조명은 계절과 행사에 따라 색을 바꿀 수 있고, 전기 요금은 한 해 사십 퍼센트가량 줄어든다.",
    "시는 바다 위 철새의 이동 시기에는 조명 밝기를 낮춰 생태계 영향을 줄이기로 했다.",
])
KO_CUPS = ("ko", "대학가 카페에 일회용 컵 보증금제 시범 운영", [
    "광주의 대학가 카페 스무 곳이 일회용 컵에 보증금을 붙이는 제도를 다음 달부터 시범 운영한다.",
    "손님은 음료값에 삼백 원을 더 내고, 컵을 돌려주면 그 돈을 현금이나 포인트로 돌려받는다.",
    "학생회는 캠퍼스 안 쓰레기가 눈에 띄게 줄어들 것으로 기대한다고 말했다.",
])
KO_SCHOOL = ("ko", "산골 분교에 원격 수업 교실 마련", [
    "강원도 산골의 한 분교에 도시 학교와 실시간으로 함께 수업할 수 있는 원격 교실이 문을 열었다.",
    "전교생 일곱 명은 이제 영어와 음악 시간을 시내 학생들과 화면으로 함께 듣는다.",
    "교육청은 통신 장비와 교사 연수 비용을 지원하고, 다른 분교에도 같은 교실을 만들 계획이다.",
])
JA_SNOW = ("ja", "新潟で除雪ロボットの実証実験", [
    "新潟県長岡市で、住宅街の歩道を自動で除雪するロボットの実証実験が始まった。",
    "ロボットは夜間に決められた経路を走り、朝の通学時間までに雪を道路の脇へ寄せる。",
    "市は高齢者の多い地区で効果を確かめ、来年度の本格導入を検討する。",
])
JA_BUS = ("ja", "福岡市、深夜バスの路線を拡大", [
    "福岡市交通局は、来月から深夜バスの路線を三本増やすと発表した。",
    "終電を逃した利用者からの要望が多く、週末は午前二時まで運行する。",
    "運賃は通常の二倍となるが、交通系カードで支払うと一割引きになる。",
])
ZH_TEA = ("zh", "南投茶農推出有機烏龍茶", [
    "南投縣鹿谷鄉的茶農合作社宣布，今年首批有機烏龍茶已通過認證，下個月開始販售。",
    "合作社表示，轉型有機栽培花了五年時間，期間產量一度減少三成。",
    "縣政府將協助茶農參加國際展覽，希望把台灣高山茶推廣到更多國家。",
])
ZH_PARKS = ("zh", "北京新增三十个口袋公园", [
    "北京市园林绿化局表示，今年在老城区新建了三十个口袋公园，方便居民就近休闲。",
    "这些公园面积都不大，但配有座椅、健身器材和儿童游乐设施。",
    "明年还将利用闲置空地继续建设，力争让居民步行五分钟就能到达一个公园。",
])
# fmt: on


Article = tuple[str, str, list[str]]


def page(
    article: Article, *, charset: str | None = "utf-8", head: str = "", attrs: str = ""
) -> str:
    """An article page as a news site serves it: navigation, the article, a footer."""
    lang, title, paragraphs = article
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head>{meta}<title>{escape(title)}</title>{head}'
        f'</head><body{attrs}><nav><a href="/">Home</a> <a href="/news/">News</a></nav><article>'
        f"<h1>{escape(title)}</h1>{body}</article><footer>Contact us</footer></body></html>"
    )


def plain(article: Article) -> str:
    """The article as a plain-text file: title, blank line, paragraphs."""
    _lang, title, paragraphs = article
    return title + "\n\n" + "\n\n".join(paragraphs) + "\n"


@dataclass(frozen=True)
class Expect:
    """The ledger row an input must end in. `crawl`: the web path's (state, reason) where it
    legitimately differs, with `why`. For stored inputs, `text` lists lines the article must
    hold (as whole lines, or anywhere when `glued`) and `language`/`title` what it must say."""

    state: str
    reason: str | None = None
    crawl: tuple[str, str | None] | None = None
    why: str = ""
    text: tuple[str, ...] = ()
    language: str | None = None
    title: str | None = None
    glued: bool = False  # the text is all there, but paragraph breaks may be lost

    def on(self, path: str) -> tuple[str, str | None]:
        return (
            self.crawl if path == "crawl" and self.crawl is not None else (self.state, self.reason)
        )


def stored(article: Article, *, real: bool = False, **kw: object) -> Expect:
    """Stored with every paragraph intact; a real article also with its language and title."""
    lang, title, paragraphs = article
    extra = {"language": lang, "title": title} if real else {}
    return Expect("stored", None, text=tuple(paragraphs), **{**extra, **kw})  # type: ignore[arg-type]


def rejected(reason: str, **kw: object) -> Expect:
    return Expect("rejected", reason, **kw)  # type: ignore[arg-type]


HTML = "text/html"
HTML_UTF8 = "text/html; charset=utf-8"
TEXT = "text/plain"
TEXT_UTF8 = "text/plain; charset=utf-8"


def _png(rng: random.Random) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    pixels = b"".join(b"\x00" + rng.randbytes(3 * 64) for _ in range(64))
    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


def _pdf(rng: random.Random) -> bytes:
    stream = zlib.compress(rng.randbytes(6000))
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        + b"4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
        + stream
        + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def _elf(rng: random.Random) -> bytes:
    ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
    header = struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    return ident + header + b"\x00" * 200 + rng.randbytes(4000) + b"GCC: (GNU) 13.2.0\x00" * 10


def _feed() -> str:
    items = "".join(
        f"<item><title>Item {i}</title><link>https://news.example/{i}</link>"
        f"<description>Short note number {i}.</description></item>"
        for i in range(30)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>{items}</channel></rss>'


def _json() -> str:
    items = ",".join(
        f'{{"id": {i}, "title": "Item {i}", "body": "Short note number {i} about the weather."}}'
        for i in range(40)
    )
    return '{"items": [' + items + "]}"


def _css() -> str:
    return "".join(f".c{i} {{ color: #{i:06x}; margin: {i}px; }}\n" for i in range(400))


def _ledger_line() -> bytes:
    """One 5 MB line of text (no line break at all)."""
    line = " ".join(
        f"Line item {i} of the ledger was checked and found in order." for i in range(90_000)
    )
    return line.encode()[: 5 * 1024 * 1024]


def _tiny_paragraphs() -> bytes:
    paragraphs = "".join(f"<p>Note {i}.</p>" for i in range(10_000))
    return f"<html><body><article>{paragraphs}</article></body></html>".encode()


def _entities(article: Article) -> bytes:
    """Every comma a numeric entity, every word led by a zero-width-space entity, one word spelt
    out in decimal entities: the stored text must read as the article does."""
    spelt = "".join(f"&#{ord(c)};" for c in "millimetres")
    html = page(article).replace("millimetres", spelt).replace(",", "&#44;")
    return html.replace(" ", " &#x200B;").encode()


def _unclosed(article: Article) -> bytes:
    html = page(article).replace("</p>", "").replace("</article>", "")
    return html.replace("</body></html>", "").replace("<p>", "<p><div><span>").encode()


def _stray_bytes(article: Article) -> bytes:
    """UTF-8 with one stray byte mid-text and the last character cut in half, as a download
    truncated mid-character leaves it."""
    body = page(article).encode().replace("일곱".encode(), b"\xff")
    return body + "끝".encode()[:2]


def corpus(max_bytes: int) -> Iterator[tuple[str, bytes, str, Expect]]:
    """Every hostile input: (file name, body, Content-Type the test site serves it with, expected).

    The extension of the name is what the file loader goes by; the Content-Type is what the crawl
    goes by. `max_bytes` is the run's input size cap (CRAWLER_MAX_INPUT_BYTES)."""
    rng = random.Random(8)
    # --- binary, whatever the name or header says
    yield "bin-png.html", _png(rng), "image/png", rejected("not_text")
    yield "bin-png-served-as-html.html", _png(rng), HTML_UTF8, rejected("not_text")
    yield "bin-pdf.html", _pdf(rng), "application/pdf", rejected("not_text")
    yield "bin-elf.txt", _elf(rng), "application/octet-stream", rejected("not_text")
    yield "bin-random.html", rng.randbytes(50_000), HTML, rejected("not_text")
    yield (
        "bin-deflate.html",
        zlib.compress(page(EN_BRIDGE).encode() * 20),
        HTML,
        rejected("not_text"),
    )
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + rng.randbytes(20_000) + b"\xff\xd9"
    yield "bin-jpeg.txt", jpeg, TEXT, rejected("not_text")
    # --- over the size cap
    big = b"<html><body><p>" + b"big " * (max_bytes // 4) + b"</p></body></html>"
    yield "huge.html", big, HTML, rejected("too_large")
    yield "huge.txt", b"line of text\n" * (max_bytes // 13 + 1), TEXT, rejected("too_large")
    # --- nesting
    yield "deep-3000-divs.html", nested(3000), HTML, rejected("too_deep")
    deep_text = PARAGRAPH.removeprefix("<p>").removesuffix("</p>").strip()
    yield "deep-300-divs.html", nested(300), HTML, Expect("stored", text=(deep_text,))
    unclosed = b"<html><body>" + b"<div>" * 100_000 + b"<p>lost</p></body></html>"
    yield "deep-100k-unclosed-divs.html", unclosed, HTML, rejected("too_deep")
    inline = (
        b"<html><body><p>"
        + b"<b><i>" * 25_000
        + b"x"
        + b"</i></b>" * 25_000
        + b"</p></body></html>"
    )
    yield "deep-50k-inline.html", inline, HTML, rejected("too_deep")
    # --- no charset label anywhere: the bytes decide
    yield "nolabel-utf8.html", page(ZH_DRONES, charset=None).encode(), HTML, stored(ZH_DRONES)
    yield (
        "nolabel-euckr.html",
        page(KO_LIBRARY, charset=None).encode("euc-kr"),
        HTML,
        stored(KO_LIBRARY),
    )
    yield (
        "nolabel-sjis.html",
        page(JA_DAIRY, charset=None).encode("shift_jis"),
        HTML,
        stored(JA_DAIRY),
    )
    yield (
        "nolabel-gb18030.html",
        page(ZH_BOOKS, charset=None).encode("gb18030"),
        HTML,
        stored(ZH_BOOKS),
    )
    yield (
        "nolabel-big5.html",
        page(ZH_OLDSTREET, charset=None).encode("big5"),
        HTML,
        stored(ZH_OLDSTREET),
    )
    yield "nolabel-euckr.txt", plain(KO_DIVERS).encode("euc-kr"), TEXT, stored(KO_DIVERS)
    # --- wrong labels (the same label in <meta> and in the header): overruled
    latin1 = "text/html; charset=iso-8859-1"
    yield (
        "wronglabel-latin1-on-euckr.html",
        page(KO_TRACTOR, charset="iso-8859-1").encode("euc-kr"),
        latin1,
        stored(KO_TRACTOR),
    )
    eucjp = "text/html; charset=euc-jp"
    yield (
        "wronglabel-eucjp-on-sjis.html",
        page(JA_SHOPS, charset="euc-jp").encode("shift_jis"),
        eucjp,
        stored(JA_SHOPS),
    )
    sjis = "text/html; charset=shift_jis"
    yield (
        "wronglabel-sjis-on-utf8.html",
        page(EN_ARCHIVE, charset="shift_jis").encode(),
        sjis,
        stored(EN_ARCHIVE),
    )
    bogus = "text/html; charset=x-no-such-charset"
    yield (
        "wronglabel-unknown.html",
        page(JA_SNOW, charset="x-no-such-charset").encode(),
        bogus,
        stored(JA_SNOW),
    )
    # Big5 bytes decode without an error as GB18030, into nonsense: the label must be overruled
    gb2312 = "text/html; charset=gb2312"
    yield (
        "wronglabel-gb2312-on-big5.html",
        page(ZH_TEA, charset="gb2312").encode("big5"),
        gb2312,
        stored(ZH_TEA),
    )
    # --- byte-order marks
    yield "bom-utf8.html", codecs.BOM_UTF8 + page(EN_BAKERY).encode(), HTML_UTF8, stored(EN_BAKERY)
    yield (
        "bom-utf16le.html",
        codecs.BOM_UTF16_LE + page(KO_LIGHTS, charset=None).encode("utf-16-le"),
        HTML,
        stored(KO_LIGHTS),
    )
    yield (
        "bom-utf16be.txt",
        codecs.BOM_UTF16_BE + plain(JA_CORAL).encode("utf-16-be"),
        TEXT,
        stored(JA_CORAL),
    )
    yield (
        "bom-utf32le.txt",
        codecs.BOM_UTF32_LE + plain(EN_CLINIC).encode("utf-32-le"),
        TEXT,
        stored(EN_CLINIC),
    )
    # a UTF-8 BOM on ASCII text with a few Latin-1 bytes after it: the BOM decides (U+FFFD)
    latin_tail = codecs.BOM_UTF8 + page(EN_FERRY).encode("latin-1") + b"\xe9\xe8" * 3
    yield "bom-utf8-then-latin1.html", latin_tail, HTML, stored(EN_FERRY)
    yield "bom-only.txt", codecs.BOM_UTF8, TEXT, rejected("empty")
    # --- UTF-16 without a BOM: readable only where a header labels it
    yield (
        "utf16le-nobom.html",
        page(ZH_RIVER, charset=None).encode("utf-16-le"),
        "text/html; charset=utf-16le",
        Expect(
            "rejected",
            "not_text",
            crawl=("stored", None),
            text=tuple(ZH_RIVER[2]),
            why="only the web path has a label (the HTTP header); a file's zero bytes look binary",
        ),
    )
    yield (
        "utf16le-nobom-unlabelled.txt",
        plain(EN_SEALS).encode("utf-16-le"),
        TEXT,
        rejected("not_text"),
    )
    # --- NUL bytes
    yield "nul-only.txt", b"\x00" * 4096, TEXT, rejected("not_text")
    yield (
        "nul-sprinkled.html",
        page(EN_TREES).encode().replace(b". ", b".\x00 "),
        HTML_UTF8,
        stored(EN_TREES),
    )
    interleaved = b"\x00".join(bytes([c]) for c in plain(EN_SEALS).encode())
    yield "nul-interleaved.txt", interleaved, TEXT, rejected("not_text")
    # --- nothing there
    yield "empty.html", b"", HTML, rejected("empty")
    yield "whitespace.txt", b" \t\r\n\n   \n", TEXT, rejected("empty")
    yield (
        "unicode-whitespace.txt",
        ("\u3000\u00a0\u2003\n" * 50).encode(),
        TEXT_UTF8,
        rejected("empty"),
    )
    empty_page = b"<!DOCTYPE html><html><head><title></title></head><body></body></html>"
    yield "empty-body.html", empty_page, HTML, rejected("no_content")
    # --- a type that is not what the name or header says
    # The crawl sniffs any type that is neither HTML nor text/plain (the loader goes by .html):
    # an article labelled image/png is stored, as the fault server's oracle (html_as_png) has it.
    yield "html-served-as-png.html", page(EN_POOL).encode(), "image/png", stored(EN_POOL)
    yield (
        "html-served-as-octet-stream.html",
        page(KO_CUPS).encode(),
        "application/octet-stream",
        stored(KO_CUPS),
    )
    # plain text in an .html file or served as text/html: trafilatura refuses a document that
    # neither starts like HTML nor parses into more than one element
    yield "text-served-as-html.html", plain(EN_SEALS).encode(), HTML, rejected("not_text")
    yield "xml-served-as-html.html", _feed().encode(), HTML, rejected("not_text")
    yield "json-served-as-html.html", _json().encode(), HTML, rejected("not_text")
    yield "css-served-as-html.html", _css().encode(), HTML, rejected("not_text")
    # --- structure
    scripts = (
        "<html><head><style>"
        + "body{color:red}" * 200
        + "</style></head><body>"
        + "<script>var x = 'a sentence that is not article text at all';</script>" * 200
        + "</body></html>"
    )
    yield "scripts-and-styles-only.html", scripts.encode(), HTML, rejected("no_content")
    comments = ("<!-- " + "a comment that is no article text. " * 40 + "-->\n").encode() * 50
    yield "comments-only.html", comments, HTML, rejected("not_text")  # as plain text above
    # Unclosed <div><span> nest each paragraph inside the one before; trafilatura joins text of
    # nested blocks without a break ("decade.The operator"), as it does for <div>A<div>B</div>.
    yield "unclosed-tags.html", _unclosed(EN_TRAINS), HTML, stored(EN_TRAINS, glued=True)
    attribute = page(EN_MAPS, attrs=' data-blob="' + "A" * 3_000_000 + '"').encode()
    yield "huge-attribute.html", attribute, HTML_UTF8, stored(EN_MAPS)
    # Stored, as they are text: a 5 MB line, ten thousand two-word paragraphs, and a page of
    # symbols only (nothing requires letters). Under the cap, within the deadline, in memory.
    yield "one-5mb-line.txt", _ledger_line(), TEXT, Expect("stored")
    yield (
        "tiny-paragraphs.html",
        _tiny_paragraphs(),
        HTML,
        Expect("stored", text=("Note 0.", "Note 9999.")),
    )
    yield "entities-article.html", _entities(EN_WEATHER), HTML, stored(EN_WEATHER)
    symbols = "<html><body><p>" + "&amp;&lt;&gt;&#9731;&nbsp;" * 100_000 + "</p></body></html>"
    yield "entities-only.html", symbols.encode(), HTML, Expect("stored")
    yield "slow-extraction.html", SLOW_PAGE, HTML, rejected("extract_timeout")
    # --- invalid UTF-8
    few = (
        page(EN_POST).encode().replace(b"valley", b"val\xc3\x28ley").replace(b"week.", b"week\xff.")
    )
    yield "invalid-utf8-ascii-text.html", few, HTML_UTF8, Expect("stored", text=(EN_POST[2][2],))
    yield (
        "invalid-utf8-stray-bytes.html",
        _stray_bytes(KO_SCHOOL),
        HTML_UTF8,
        Expect("stored", text=(KO_SCHOOL[2][0], KO_SCHOOL[2][2])),
    )
    noise = bytes(
        b
        for _ in range(300)
        for b in (rng.choice(b"\x80\x81\xc0\xc1\xf5\xff"), rng.choice(b"abc "))
    )
    yield "invalid-utf8-mostly.txt", noise, TEXT_UTF8, rejected("bad_encoding")
    # --- real articles in four languages
    yield "real-en.html", page(EN_BRIDGE).encode(), HTML_UTF8, stored(EN_BRIDGE, real=True)
    yield "real-ko.html", page(KO_PARK).encode(), HTML_UTF8, stored(KO_PARK, real=True)
    yield "real-ja.html", page(JA_TEMPLE).encode(), HTML_UTF8, stored(JA_TEMPLE, real=True)
    yield "real-zh.html", page(ZH_METRO).encode(), HTML_UTF8, stored(ZH_METRO, real=True)
    yield "real-en.txt", plain(EN_LUNCH).encode(), TEXT_UTF8, stored(EN_LUNCH, real=True)
    yield "real-ko.txt", plain(KO_MARKET).encode(), TEXT_UTF8, stored(KO_MARKET, real=True)
    yield "real-ja.txt", plain(JA_BUS).encode(), TEXT_UTF8, stored(JA_BUS, real=True)
    yield "real-zh.txt", plain(ZH_PARKS).encode(), TEXT_UTF8, stored(ZH_PARKS, real=True)


# --- running the two paths ------------------------------------------------------------------

CRAWL_MAX_BYTES = 6 * 1024 * 1024  # the crawl's size cap (-s); the loader keeps its 20 MB default
EXTRACT_TIMEOUT = 5  # seconds per input on both paths, so the slow page costs 5 s, not 15
# Measured on 2 cores, alone: load 17 s, crawl 21 s, peak
# tree RSS load 586 MB, crawl 672 MB. The bounds leave room for a busy machine.
LOAD_DEADLINE = 45.0
CRAWL_DEADLINE = 75.0
RSS_BOUND = 1280 * 1024 * 1024  # bytes, the whole process tree (crawler, fork server, worker)

_PAGE = os.sysconf("SC_PAGE_SIZE")


class TreeRSS:
    """Peak resident memory of a process tree: every process descending from this process's
    child whose command line holds `marker`, summed, sampled from /proc every `interval` s."""

    def __init__(self, marker: str, interval: float = 0.05) -> None:
        self.marker = marker.encode()
        self.interval = interval
        self.peak = 0  # bytes
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self._sample())
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def _sample(self) -> int:
        me = os.getpid()
        parent: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_bytes()
                except OSError:
                    continue
                parent[int(entry.name)] = int(stat.rsplit(b")", 1)[1].split()[1])
        tree = set()
        for pid, ppid in parent.items():
            if ppid == me:
                try:
                    if self.marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                        tree.add(pid)
                except OSError:
                    continue
        grew = True
        while grew:
            more = {pid for pid, ppid in parent.items() if ppid in tree} - tree
            tree |= more
            grew = bool(more)
        total = 0
        for pid in tree:
            try:
                total += int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * _PAGE
            except OSError:
                continue
        return total


@dataclass
class Run:
    path: str  # "load" or "crawl"
    db: Path
    expected: dict[str, Expect]  # input name -> expected
    origins: dict[str, str]  # input name -> the ledger's origin for it
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes, whole process tree, sampled
    maxrss_kb: int  # ru_maxrss of reaped children after the run (kB), when it rose
    ledger: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def article(self, name: str) -> tuple[str, str | None, str | None]:
        rows = query(
            self.db,
            """SELECT a.text, a.language, a.title FROM pages p JOIN articles a ON a.id = p.article_id
               WHERE p.origin = ?""",
            (self.origins[name],),
        )
        assert len(rows) == 1, (name, rows)
        text, language, title = rows[0]
        return (
            str(text),
            None if language is None else str(language),
            None if title is None else str(title),
        )


def _measured(marker: str, *args: str, timeout: float) -> tuple[object, float, int, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with TreeRSS(marker) as rss:
        started = time.monotonic()
        proc = crawler_subprocess(*args, timeout=timeout)
        seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert rss.samples > 10, "too few memory samples to trust the peak"
    return proc, seconds, rss.peak, after if after > before else 0


def _ledger(db: Path, origins: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    names = {origin: name for name, origin in origins.items()}
    rows = query(db, "SELECT origin, state, reason FROM pages")
    assert len(rows) == len({str(o) for o, _s, _r in rows})  # one row per input
    return {names.get(str(o), str(o)): (str(s), None if r is None else str(r)) for o, s, r in rows}


def run_load(tmp: Path) -> Run:
    from crawler import settings

    folder = tmp / "in"
    folder.mkdir()
    expected, origins = {}, {}
    for name, body, _ctype, expect in corpus(settings.CRAWLER_MAX_INPUT_BYTES):
        (folder / name).write_bytes(body)
        expected[name], origins[name] = expect, str(folder / name)
    sources = tmp / "sources.toml"  # a files source holding the folder: its deadline applies
    sources.write_text(
        f'[sources.hostile]\nkind = "files"\npaths = ["{folder}"]\n'
        f"extract_timeout = {EXTRACT_TIMEOUT}\n",
        "utf-8",
    )
    db = tmp / "load.db"
    proc, seconds, peak, maxrss = _measured(
        str(db),
        "load",
        str(folder),
        "--db",
        str(db),
        "--sources",
        str(sources),
        timeout=LOAD_DEADLINE + 60,
    )
    return Run(
        "load",
        db,
        expected,
        origins,
        proc.returncode,
        proc.stdout,
        proc.stderr,
        seconds,
        peak,
        maxrss,
    )  # type: ignore[attr-defined]


def run_crawl(tmp: Path) -> Run:
    cases = list(corpus(CRAWL_MAX_BYTES))

    def setup(site: Site) -> None:
        for name, body, ctype, _expect in cases:
            site.pages[f"/h/{name}"] = (200, ctype, body)
        site.sitemap([f"/h/{name}" for name, *_ in cases])

    db = tmp / "crawl.db"
    with serve(setup) as site:
        sources = sources_file(tmp, site.base)
        proc, seconds, peak, maxrss = _measured(
            str(db),
            "crawl",
            "testsite",
            "--sources",
            str(sources),
            "--db",
            str(db),
            "-s",
            f"DOWNLOAD_MAXSIZE={CRAWL_MAX_BYTES}",
            "-s",
            f"CRAWLER_MAX_INPUT_BYTES={CRAWL_MAX_BYTES}",
            "-s",
            f"CRAWLER_EXTRACT_TIMEOUT={EXTRACT_TIMEOUT}",
            timeout=CRAWL_DEADLINE + 60,
        )
        base = site.base
    expected = {name: expect for name, _b, _c, expect in cases}
    origins = {name: f"{base}/h/{name}" for name in expected}
    return Run(
        "crawl",
        db,
        expected,
        origins,
        proc.returncode,
        proc.stdout,
        proc.stderr,
        seconds,
        peak,
        maxrss,
    )  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def load_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    done = run_load(tmp_path_factory.mktemp("hostile-load"))
    done.ledger = _ledger(done.db, done.origins)
    return done


@pytest.fixture(scope="module")
def crawl_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    done = run_crawl(tmp_path_factory.mktemp("hostile-crawl"))
    done.ledger = _ledger(done.db, done.origins)
    return done


@pytest.fixture(scope="module", params=["load", "crawl"])
def run(request: pytest.FixtureRequest) -> Run:
    done: Run = request.getfixturevalue(f"{request.param}_run")
    return done


pytestmark = pytest.mark.timeout(240)  # a path and its checks; each path has its own deadline


def _exact(run: Run) -> dict[str, Expect]:
    return dict(run.expected)


def test_every_input_ends_in_exactly_one_expected_ledger_row(run: Run) -> None:
    failed = any(e.on(run.path)[0] == "failed" for e in run.expected.values())
    assert run.returncode == (3 if failed else 0), run.stderr[-3000:]
    assert sorted(run.ledger) == sorted(run.expected)  # one row each, nothing else recorded
    for state, reason in run.ledger.values():
        assert state in ("stored", "duplicate", "rejected", "failed")
        assert (reason is None) == (state == "stored")
    got = {name: run.ledger[name] for name in _exact(run)}
    want = {name: e.on(run.path) for name, e in _exact(run).items()}
    assert got == want
    assert len(run.expected) >= 60
    check_ledger(run.db)


def test_stored_articles_have_their_text(run: Run) -> None:
    stored_names = [n for n, e in _exact(run).items() if e.on(run.path)[0] == "stored"]
    assert len(stored_names) >= 30  # cannot pass by rejecting everything
    real = [n for n in stored_names if run.expected[n].language]
    assert {run.expected[n].language for n in real} == {"en", "ko", "ja", "zh"}
    for name in stored_names:
        expect = run.expected[name]
        text, language, title = run.article(name)
        lines = text.splitlines()
        for line in expect.text:
            assert line in (text if expect.glued else lines), (name, line, lines[:5])
        if expect.language:
            assert (language, title) == (expect.language, expect.title), name
    assert query(run.db, "SELECT count(*) FROM articles WHERE instr(text, char(0)) > 0") == [(0,)]
    # repaired encodings read as the article, not as mojibake or replacement characters
    assert "\ufffd" not in run.article("wronglabel-gb2312-on-big5.html")[0]
    assert run.article("invalid-utf8-stray-bytes.html")[0].count("\ufffd") == 1  # the stray byte


def test_each_path_keeps_its_deadline_and_bounded_memory(run: Run) -> None:
    deadline = LOAD_DEADLINE if run.path == "load" else CRAWL_DEADLINE
    assert run.seconds < deadline, f"{run.path} took {run.seconds:.1f}s"
    assert run.peak_rss < RSS_BOUND, f"{run.path} tree peaked at {run.peak_rss >> 20} MB"
    assert run.maxrss_kb * 1024 < RSS_BOUND  # the largest single process, as the kernel counts
    print(
        f"{run.path}: {len(run.expected)} inputs in {run.seconds:.1f}s, peak tree RSS "
        f"{run.peak_rss >> 20} MB, largest process {run.maxrss_kb >> 10} MB"
    )


def test_crawl_slow_page_gets_the_deadline_given_with_dash_s(crawl_run: Run) -> None:
    """`-s CRAWLER_EXTRACT_TIMEOUT=...` reaches the crawl's cleaning (it once did not)."""
    name = "slow-extraction.html"
    assert crawl_run.ledger[name] == ("rejected", "extract_timeout")
    detail = query(
        crawl_run.db, "SELECT detail FROM pages WHERE origin = ?", (crawl_run.origins[name],)
    )
    assert f"within {EXTRACT_TIMEOUT}s" in str(detail[0][0])  # our deadline, not the default 30 s
