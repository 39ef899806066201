"""Source-language detection on short product lines (pipelines.languages.detect_language): the
language of a line in any of the catalogue's scripts, and no guess where a line has no language
(numbers, codes, a lone brand) rather than a wrong one. The lines are this test's own, written
for it; none comes from an evaluation set."""

from __future__ import annotations

import pytest

from pipelines.languages import detect_language, load_languages

# (expected code, a short line as a merchant or a buyer writes it)
LINES = [
    ("en", "Stainless steel water bottle, keeps drinks cold for 24 hours"),
    ("en", "Free shipping on orders over $50"),
    ("en", "Soft cotton T-shirt for men, machine washable"),
    ("zh", "不锈钢保温杯，500毫升，保冷24小时"),
    ("zh", "满50美元包邮，7至15天送达"),
    ("zh-Hant", "不鏽鋼保溫瓶，500毫升，買二送一"),
    ("zh-Hant", "這款檯燈有三檔亮度，附贈USB充電線"),
    ("ja", "ステンレス製の水筒、500ml、24時間保冷"),
    ("ja", "送料無料でお届けします"),
    ("ko", "스테인리스 물병, 500ml, 24시간 보냉"),
    ("ko", "5만원 이상 구매 시 무료 배송"),
    ("es", "Botella de acero inoxidable, mantiene las bebidas frías"),
    ("es", "Envío gratis en pedidos superiores a 50 dólares"),
    ("pt", "Garrafa térmica de aço inoxidável, mantém a bebida gelada"),
    ("pt", "Frete grátis para compras acima de R$ 100"),
    ("fr", "Bouteille isotherme en acier inoxydable, garde vos boissons au frais"),
    ("fr", "Livraison gratuite dès 50 euros d'achat"),
    ("de", "Edelstahl-Trinkflasche, hält Getränke 24 Stunden kalt"),
    ("de", "Kostenloser Versand ab 50 Euro Bestellwert"),
    ("it", "Borraccia in acciaio inossidabile, mantiene le bevande fredde"),
    ("it", "Spedizione gratuita per ordini superiori a 50 euro"),
    ("ru", "Бутылка из нержавеющей стали, сохраняет напитки холодными"),
    ("ru", "Бесплатная доставка при заказе от 3000 рублей"),
    ("ar", "زجاجة ماء من الفولاذ المقاوم للصدأ، تحافظ على برودة المشروبات"),
    ("ar", "شحن مجاني للطلبات التي تزيد عن 50 دولارًا"),
    ("tr", "Paslanmaz çelik su şişesi, içecekleri 24 saat soğuk tutar"),
    ("tr", "150 TL ve üzeri siparişlerde kargo bedava"),
    ("vi", "Bình nước bằng thép không gỉ, giữ lạnh đồ uống 24 giờ"),
    ("vi", "Miễn phí vận chuyển cho đơn hàng trên 500.000 đồng"),
    ("th", "ขวดน้ำสแตนเลส เก็บความเย็นได้ 24 ชั่วโมง"),
    ("th", "จัดส่งฟรีเมื่อซื้อครบ 500 บาท"),
    ("id", "Botol minum stainless steel, menjaga minuman tetap dingin"),
    ("id", "Gratis ongkir untuk pembelian di atas Rp 100.000"),
    ("ms", "Botol air keluli tahan karat, memastikan minuman kekal sejuk sepanjang hari"),
    ("ms", "Penghantaran percuma bagi pesanan melebihi RM50 di seluruh Malaysia"),
    ("hi", "स्टेनलेस स्टील की पानी की बोतल, 24 घंटे ठंडा रखती है"),
    ("hi", "500 रुपये से अधिक के ऑर्डर पर मुफ्त डिलीवरी"),
    ("ur", "سٹینلیس سٹیل کی پانی کی بوتل، مشروبات کو ٹھنڈا رکھتی ہے"),
    ("ur", "ہزار روپے سے زیادہ کے آرڈر پر مفت ترسیل"),
    ("bn", "স্টেইনলেস স্টিলের পানির বোতল, ২৪ ঘণ্টা ঠান্ডা রাখে"),
    ("bn", "৫০০ টাকার বেশি অর্ডারে বিনামূল্যে ডেলিভারি"),
    ("fa", "بطری آب از فولاد ضد زنگ، نوشیدنی را خنک نگه می‌دارد"),
    ("fa", "ارسال رایگان برای سفارش‌های بالای ۵۰۰ هزار تومان"),
    ("pl", "Butelka ze stali nierdzewnej, utrzymuje napoje w chłodzie"),
    ("pl", "Darmowa dostawa przy zamówieniu powyżej 100 zł"),
    ("nl", "Roestvrijstalen drinkfles, houdt dranken 24 uur koud"),
    ("nl", "Gratis verzending bij bestellingen vanaf 50 euro"),
    ("uk", "Пляшка з нержавіючої сталі, зберігає напої холодними"),
    ("uk", "Безкоштовна доставка для замовлень від 1000 гривень"),
    ("ro", "Sticlă din oțel inoxidabil, păstrează băuturile reci"),
    ("ro", "Livrare gratuită pentru comenzi de peste 200 de lei"),
    ("cs", "Láhev z nerezové oceli, udrží nápoje studené 24 hodin"),
    ("cs", "Doprava zdarma při nákupu nad 1000 Kč"),
    ("el", "Μπουκάλι νερού από ανοξείδωτο ατσάλι, κρατά τα ποτά κρύα"),
    ("el", "Δωρεάν αποστολή για παραγγελίες άνω των 50 ευρώ"),
    ("he", "בקבוק מים מנירוסטה, שומר על המשקה קר 24 שעות"),
    ("he", "משלוח חינם בהזמנה מעל 200 שקלים"),
    ("sv", "Vattenflaska i rostfritt stål, håller drycken kall i 24 timmar"),
    ("sv", "Fri frakt vid köp över 500 kronor"),
    ("hu", "Rozsdamentes acél kulacs, 24 órán át hidegen tartja az italt"),
    ("hu", "Ingyenes szállítás 10 000 forint feletti rendelés esetén"),
    ("da", "Drikkedunk i rustfrit stål, holder drikken kold i 24 timer"),
    ("da", "Gratis fragt ved køb over 500 kroner"),
    ("fi", "Ruostumattomasta teräksestä valmistettu juomapullo pitää juoman kylmänä"),
    ("fi", "Ilmainen toimitus yli 50 euron tilauksille"),
    ("fil", "Bote ng tubig na gawa sa stainless steel, pinapanatiling malamig ang inumin"),
    ("fil", "Libreng pagpapadala sa mga order na higit sa 500 piso"),
    ("sw", "Chupa ya maji ya chuma cha pua, huweka vinywaji baridi kwa saa 24"),
    ("sw", "Usafirishaji bure kwa oda zaidi ya shilingi elfu hamsini"),
    ("kk", "Тот баспайтын болаттан жасалған су бөтелкесі, сусынды салқын ұстайды"),
    ("kk", "Он мың теңгеден асатын тапсырыстарға тегін жеткізу"),
    ("am", "ከማይዝግ ብረት የተሰራ የውሃ ጠርሙስ፣ መጠጥን ለ24 ሰዓት ቀዝቃዛ ያደርጋል"),
    ("my", "သံမဏိရေဘူး၊ အအေးကို ၂၄ နာရီ ထိန်းထားသည်"),
    ("km", "ដបទឹកដែកអ៊ីណុក រក្សាភេសជ្ជៈឱ្យត្រជាក់ ២៤ ម៉ោង"),
    ("ta", "துருப்பிடிக்காத எஃகு தண்ணீர் பாட்டில், 24 மணி நேரம் குளிர்ச்சியாக வைக்கும்"),
    ("uz", "Zanglamaydigan poʻlatdan yasalgan suv idishi, ichimlikni sovuq saqlaydi"),
    ("ha", "Kwalbar ruwa ta ƙarfe, tana sanya abin sha ya yi sanyi na tsawon awanni 24"),
    ("yo", "Ìgò omi irin alagbara, ó máa ń jẹ́ kí ohun mímu tutù fún wákàtí mẹ́rìnlélógún"),
    ("zu", "Ibhodlela lamanzi lensimbi engagqwali, ligcina isiphuzo sibanda amahora angu-24"),
]


def test_short_product_lines_in_forty_languages_are_identified_at_least_95_percent() -> None:
    assert len(LINES) >= 60
    assert len({code for code, _ in LINES}) >= 30
    assert {code for code, _ in LINES} <= set(load_languages().codes())
    wrong = [(code, detect_language(line), line) for code, line in LINES]
    wrong = [miss for miss in wrong if miss[0] != miss[1]]
    assert len(wrong) <= 0.05 * len(LINES), wrong


@pytest.mark.parametrize(
    "text", ["500ml", "SKU YW-8823", "USB-C", "iPhone 15 Pro Max", "Bottle", "$12.99", "", "  "]
)
def test_a_line_without_a_language_gets_no_guess(text: str) -> None:
    assert detect_language(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Sony ワイヤレスイヤホン", "ja"),  # kana among Han and Latin: Japanese
        ("保温杯 500ml YW-8823", "zh"),  # mostly Han, no kana: Chinese
        ("保溫杯 買二送一", "zh-Hant"),  # traditional forms outnumber simplified ones
        ("LED 무드등 USB", "ko"),
        ("Αδιάβροχο", "el"),
    ],
)
def test_scripts_of_one_language_decide_before_the_model(text: str, code: str) -> None:
    assert detect_language(text) == code
