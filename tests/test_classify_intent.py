"""Issue 11: intent, not topic words. The labelled corpus and the cases the issue names."""
from __future__ import annotations

import pytest

from benchmarks.classify_eval import evaluate
from mailworker.ingest import intent_model
from mailworker.ingest.classify import classify, command_of, request_of
from mailworker.ingest.parse import parse_message
from mailworker.models import CREDITABLE_KINDS
from tests.member_corpus import SPLITS, load, load_all
from tests.test_classify import make


def kind_of(subject: str, body: str, **kw):
    return classify(parse_message(make(subject, body, **kw)))


def test_corpus_is_large_and_covers_every_member_kind():
    samples = load_all()
    assert len(samples) >= 300
    kinds = {s.kind for s in samples}
    assert {"review", "proposal", "question", "other", "resignation", "rsvp"} <= kinds
    flags = {k for s in samples for k in s.flags}
    assert {"notice", "sig", "html", "euckr", "en"} <= flags


def test_no_non_feedback_mail_in_the_corpus_gets_a_credit_kind():
    wrong = [(s.label, s.kind, v.kind, v.reason) for s, v in evaluate(load_all())["results"]
             if v.kind in CREDITABLE_KINDS and s.kind not in CREDITABLE_KINDS]
    assert wrong == []


@pytest.mark.parametrize("split", SPLITS)
def test_corpus_accuracy_stays_at_the_bar(split):
    ev = evaluate(load(split))
    assert ev["right"] / ev["total"] >= 0.95, [
        (s.label, s.kind, v.kind, v.reason) for s, v in ev["results"] if s.kind != v.kind]


@pytest.mark.parametrize("subject, body, kind", [
    ("지갑 앱", "어제 깔아서 써봤는데요 송금 누르면 화면이 멈추고 아무것도 안 돼요.", "review"),
    ("안녕하세요", "봉사시간 확인 부탁드립니다.", "question"),
    ("Re: [안내] 11월 정례회의 개최 안내", "잘 받았습니다.", "other"),
    ("단원 활동", "회사 일이 바빠서 그만두려고 합니다.", "resignation"),
    ("요청", "개인 사정으로 활동 중단을 요청드립니다.", "resignation"),
    ("탈퇴", "거버넌스 단원에서 탈퇴하고 싶습니다.", "resignation"),
    ("Leaving", "Please remove me from the group.", "resignation"),
    ("unsubscribe", "unsubscribe", "resignation"),
    ("앱 질문", "앱에서 오류가 나면 어디로 신고해야 하나요?", "question"),
    ("기부", "기부금 사용처를 블록체인으로 기록하면 앱에서 누구나 확인할 수 있을 것 같습니다. "
           "시범 사업을 제안합니다.", "proposal"),
    ("thanks", "Got it, thanks!", "other"),
])
def test_intent_decides_over_topic_words(subject, body, kind):
    verdict = classify(parse_message(make(subject, body)))
    assert verdict.kind == kind, verdict.reason
    assert verdict.reason


@pytest.mark.parametrize("body", [
    "요즘 너무 추워졌네요. 건강 챙기세요.",
    "시험 기간이라 너무 바빠서 품평을 못 보냈어요. 다음 주에 보낼게요.",
    "좋은 자리 만들어 주셔서 감사합니다.",
    "어제 제안을 보냈는데 아직 답장이 없어요. 잘 들어간 건가요?",
    "제가 낸 제안이 구청 신문에 소개됐어요! 감사합니다.",      # names a proposal, makes none
    "My proposal was mentioned in the district newsletter, thanks!",
])
def test_mail_that_only_talks_about_the_service_or_a_proposal_earns_nothing(body):
    verdict = kind_of("안녕하세요", body)
    assert verdict.kind not in CREDITABLE_KINDS, verdict.reason


def test_notice_subject_quote_and_company_slogan_are_not_the_members_words():
    body = ("확인했습니다.\n\n--\n한수진 | 팀장\n(주)블록브릿지 — 신뢰를 제안하는 블록체인 파트너\n\n"
            "2026년 11월 16일 (월) 오전 10:00, 사무국 <g@example.org>님이 작성:\n"
            "> 새로운 서비스 제안과 앱 오류 품평을 보내 주세요. 아이디어 환영합니다.\n")
    verdict = kind_of("Re: [안내] 제안 공모 안내", body,
                      headers={"In-Reply-To": "<n@example.org>"})
    assert verdict.kind == "other", verdict.reason
    slogan_only = ("앱에서 송금 버튼을 누르면 꺼집니다.\n\n한수진 | 팀장\n"
                   "(주)블록브릿지 — 신뢰를 제안하는 블록체인 파트너\nTel. 02-555-0100")
    verdict = kind_of("송금", slogan_only)
    assert verdict.kind == "review" and "제안" not in verdict.reason


def test_a_question_that_names_the_app_is_a_question_and_a_report_with_a_question_is_a_review():
    verdict = kind_of("지갑 앱", "지갑 앱 새 버전은 언제 나오나요?")
    assert verdict.kind == "question"
    verdict = kind_of("송금", "송금 화면에서 주소를 붙여넣으면 마지막 글자가 잘립니다. 혹시 저만 그런 건가요?")
    assert verdict.kind == "review" and "잘" in verdict.reason


def test_idea_beside_an_app_word_is_a_proposal_and_equal_weight_is_one_credit():
    verdict = kind_of("의견", "앱 얘기는 아니고, 지역 축제 입장권을 블록체인으로 발급해서 암표를 막으면 "
                            "어떨까요?")
    assert verdict.kind == "proposal", verdict.reason
    verdict = kind_of("의견", "지갑 앱 송금 화면이 자꾸 멈춥니다. 그리고 기부금 관리에 블록체인을 도입하는 "
                            "새로운 서비스를 제안합니다.")
    assert verdict.kind in ("review", "proposal") and "both review and proposal" in verdict.reason


@pytest.mark.parametrize("subject, wanted", [
    ("내 봉사시간", "hours"), ("영수증", "receipts"), ("도움말", "help"), ("HELP", "help"),
    ("[도움말]", "help"), ("비밀번호", "password"), ("봉사시간 궁금", None),
])
def test_subject_commands(subject, wanted):
    assert command_of(subject) == wanted
    if wanted:
        verdict = kind_of(subject, "\n")
        assert (verdict.kind, verdict.request) == ("question", wanted)
        assert "subject command" in verdict.reason


@pytest.mark.parametrize("text, wanted", [
    ("압축 비밀번호 메일을 못 받았어요. 다시 보내주세요.", "password"),
    ("never got the password for the installer zip, could you resend?", "password"),
    ("앱 로그인 비밀번호를 잊어버렸는데 어떻게 재설정하나요?", None),
    ("영수증 다시 보내 주세요", "receipts"),
    ("영수증이 뭔가요?", None),
    ("제 봉사시간 몇 시간인지 알려 주세요", "hours"),
    ("봉사시간은 언제 자원봉사센터에 등록되나요?", None),
])
def test_what_a_question_asks_for(text, wanted):
    assert request_of(text.casefold()) == wanted


@pytest.mark.parametrize("subject, body", [
    ("Fwd: 기사", "서울시가 블록체인으로 행정서류 발급을 확대한다는 기사네요. 참고하세요~"),
    ("뉴스", "구청에서 지역화폐를 블록체인으로 관리하기로 했대요. 신기하네요"),
    ("FYI", "According to the article, the city will record all permits on a ledger."),
    ("Fwd: news", "Saw this in the news today, the city is expanding the certificate pilot to "
                  "three more districts. Nice!"),
])
def test_passed_on_news_is_not_the_members_idea(subject, body):
    verdict = kind_of(subject, body)
    assert verdict.kind not in CREDITABLE_KINDS, verdict.reason


@pytest.mark.parametrize("subject, body, kind", [
    # "오류가 나요" states a fault; it does not ask
    ("송금", "계좌번호를 붙여넣으면 \"형식 오류\"가 나요.", "review"),
    # terse noun endings
    ("가입", "본인인증 문자가 두번 옴. 약관 글씨가 잘 안보임.", "review"),
    # the app did something though the member did not / did the opposite
    ("알림", "거래도 안 했는데 \"거래 완료\" 알림이 옵니다", "review"),
    # a conditional good right after a report is about that report
    ("의견", "뒤로가기 누르면 앱이 종료돼요. 이거 하나만 고쳐주시면 완벽할 것 같아요", "review"),
    # turning an offline document into a certificate is a new service
    ("등록증", "반려동물 등록증을 전자증명서로 발급해서 병원에서 확인할 수 있게 하면 좋겠습니다.",
     "proposal"),
    # an idea question's "if" is hypothetical, not a reproduction
    ("제안", "구마다 어르신 대상으로 지갑앱 사용법 교육을 열면 어떨까요?", "proposal"),
    ("idea", "Seoul could hold rental deposits on the ledger instead of landlords.", "proposal"),
    ("thought", "Would it be possible for the city to put school lunch menus on the ledger?",
     "proposal"),
    ("login", "After changing my phone number I get logged out and can't log back in.", "review"),
    ("연동", "교통카드 연동을 해제했는데도 앱 첫 화면에 카드 잔액이 그대로 떠 있어요.", "review"),
    ("음성 안내", "음성 안내를 켜면 금액을 \"일 영 영 영 원\"이라고 읽어요.", "review"),
    ("push", "Push notifications arrive about 10 minutes late, sometimes all at once.", "review"),
    ("제안", "구립 도서관 회원증을 지갑 앱 하나로 통합하면 좋겠습니다.", "proposal"),
    ("사임 의사", "일신상의 사유로 거버넌스 단원을 사임하고자 합니다. 그동안 감사했습니다.", "resignation"),
    ("기사", "오늘 신문에 우리 단원 인터뷰가 실렸네요! 다들 보셨나요? ㅎㅎ", "other"),
    ("건의", "엘리베이터 고장 신고를 시민이 앱으로 하고 수리 완료까지 기록되게 하면 좋겠어요 "
             "휠체어 타는 친구가 매번 고생해서요", "proposal"),
    ("limits", "The sandbox rate limit makes integration tests impossible. Could it be raised?",
     "review"),
    ("language", "when i change language to english, half of the menu stay in korean.", "review"),
    ("메일", "활동도 못 하는데 메일만 계속 와서 부담스럽네요. 단원에서 제외해 주세요.", "resignation"),
    ("불만과 제안", "주민센터 서류 떼러 갈 때마다 신분증 복사본을 또 내야 해서 짜증났어요. 한 번 낸 서류는 "
                   "블록체인에 남겨서 다른 기관도 확인하게 하면 좋겠습니다.", "proposal"),
    ("탈퇴하면", "혹시 단원 탈퇴하면 지금까지 받은 봉사시간도 없어지나요?", "question"),
    ("oauth", "After login, the OAuth redirect drops the state parameter.", "review"),
    ("schools", "Schools could issue graduation certificates directly to the wallet app, so "
                "graduates don't have to visit the school.", "proposal"),
    ("제안 및 불만", "구청 홈페이지 민원 답변이 너무 늦어서 화가 납니다. 민원마다 처리 기한을 블록체인에 "
                    "기록해 놓고 넘기면 시민에게 자동으로 알려 주는 제도를 도입해 주세요.", "proposal"),
    ("생각", "주차 과태료 이의신청을 앱으로 하고 처리 과정도 기록되게 하면 전화가 확 줄 것 같아요",
     "proposal"),
    ("Re: [안내] 11월 정례회의 개최 안내", "저 참석이요!", "rsvp"),
    ("잘 쓰고 있어요", "지갑 앱 한 달째 쓰고 있는데 시장 갈 때 편하네요. 어머니도 잘 쓰세요!", "other"),
    ("앱", "지갑 앱 한 달째 쓰고 있는데 송금이 안 좋네요. 자꾸 멈춰요.", "review"),
    ("지갑 앱", "송금하면 받는 사람 문자에 제 전화번호가 그대로 노출돼요. 개인정보 문제 아닌가요?", "review"),
    ("가입", "인증 메일이 스팸함으로 가요. 다섯 번이나 다시 보냈어요.", "review"),
    ("건의요", "공원 운동기구 고장 신고도 QR 찍어서 바로 구청에 들어가게 하면 좋겠어요", "proposal"),
    ("공유합니다", "무료 온라인 강의가 있어서 링크 남겨요. 관심 있는 분들 들어보세요", "other"),
    ("dates", "Certificates issued after 6pm get tomorrow's date on them.", "review"),
    ("contrast", "In dark mode the grey text is almost invisible on the settings screen.", "review"),
    ("정리", "저는 이제 빠지겠습니다. 새로운 분이 들어오시면 좋겠네요.", "resignation"),
    ("회의", "이번 정례회의는 빠지겠습니다.", "rsvp"),
    # session 7's rounds
    ("qr체크인 ㅋㅋ", "qr체크인 도서관에서 찍었는데 두번 찍힘 ㅋㅋㅋ 입장 기록이 두개 떠요 ㅠ 이거 버그 맞죠?",
     "review"),
    ("kyc", "Got a full-screen message in the app asking for my ID number. It looks different "
            "from the rest of the app. Is this a real message or some kind of phishing overlay?",
     "question"),
    ("confirm screen", "The final confirmation screen only shows \"Option 3\", not the project "
                       "name. Could you show the project title on the confirm screen?", "review"),
    ("웹훅", "payment.completed 웹훅이 같은 결제 건에 대해 2~3번씩 들어옵니다. 혹시 이미 알려진 "
            "이슈인가요?", "review"),
    ("회의", "회의 몇시에요 장소 지난번이랑 같은가요", "question"),
    ("참석", "참석합니다", "rsvp"),
    ("Re: 11월 정기회의", "네 갈게요 혹시 차 가져가도 주차 되나요", "rsvp"),
    ("leaving the group", "The certificate app still crashes the same way it did in August. I "
                          "don't see the point in continuing. Please remove me from the group.",
     "resignation"),
    ("기사 보내드려요", "언니가 구청 소식지에서 봤다고 알려줘서 찾아보니 이런 기사가 있네요 "
                      "https://news.example.co.kr/a/1", "other"),
    ("교회", "저희 교회 이웃돕기 모금에 기부 트래커를 써도 괜찮은 건지, 따로 신청을 해야 하는지 "
            "여쭙니다.", "question"),
    ("충전 두번됨", "지역화폐 5만원 충전했는데 통장에서 10만원 빠져나감\n앱에는 5만원만 있음",
     "review"),
    ("제안", "봉사시간을 블록체인에 올려서 바로 검증가능하게 하면 좋겠어요 지금은 확인서 떼러 "
            "일일이 가야되니까요", "proposal"),
    ("봉사시간 문의", "처음엔 글씨가 안보여서 돋보기 쓰고 하느라 애먹었는데 지금은 제법 익숙해져서 "
                    "잘 씁니다. 제 봉사시간이 몇시간인지 알려주시면 고맙겠습니다", "question"),
    ("영수증", "결제 영수증 출력 시 가맹점명이 \"???편의점\"으로 깨져서 출력됩니다. 확인 부탁드립니다.",
     "review"),
    ("로그인", "지갑앱 로그인하면 계속 튕겨요 어제부터 그럼 확인좀요", "review"),
    ("기부", "제 내역에는 50,000원으로 나오고 사용내역 화면에는 5,000원으로 표시됩니다. 단순 표시 "
            "오류인지 모르겠지만 불안하네요. 확인 부탁드립니다.", "review"),
    ("폐건전지", "주민센터에 폐건전지 가져가면 휴지 주던데 그거 말고 지역화폐 포인트로 주면 사람들이 "
               "훨씬 많이 모아올 거 같아요", "proposal"),
    ("Incheon", "My brother-in-law lives in Incheon and said their local currency app was down "
                "for a day. Vendors went back to cash and the lines were huge.", "other"),
    ("회의 후기", "어제 회의 진짜 재밌었어요 ㅋㅋ 다음에도 또 갈게요!!", "other"),
    ("이거 정상인가요?", "QR 체크인하면 '체크인 완료'는 바로 뜨는데 기록 탭에는 한 10분 있다가 "
                       "올라오더라구요. 원래 블록 올라가는 시간 때문에 그런건가요?", "question"),
    ("결제창", "결제할 때 지문 인증 창이 두 번 떠요. 원래 이런 건가요?", "review"),
    ("등본 QR", "증명서 앱에서 발급한 등본 QR을 은행에서 찍어봤더니 '유효'라고 나오던데요. 그럼 "
               "이걸로 종이 등본 제출을 대신하는 게 맞는 건가요?", "question"),
    ("Re: 로그인 문제 문의드립니다", "알려주신 대로 지갑앱 지우고 다시 깔았더니 로그인 잘 됩니다. 잔액 "
                                 "41,200원도 그대로 있네요. 빠른 답변 감사합니다.", "other"),
    ("grandfather", "He asked me to tell you he has to stop his activity in the group and would "
                    "like to be taken off the member list.", "resignation"),
    ("PDF", "When I export a certificate to PDF, the Korean characters show up as empty boxes. "
            "Could you check the embedded font?", "review"),
    ("Re: 로그인 안되는 문제 문의드립니다", "답장 감사합니다~알려주신대로 앱을 지웠다가 다시 깔았더니 "
                                       "로그인 잘 됩니다^^ 이제 문제없어요", "other"),
    ("생각", "시가 노드 대부분을 운영하면 결국 중앙화 아닌가 싶긴 합니다. 다들 어떻게 생각하시는지 "
            "궁금하네요 ㅎㅎ", "other"),
    ("VAT", "We are a small restaurant participating in the merchant pilot. Could you confirm "
            "whether local currency payments are treated the same as card sales for VAT? Also, "
            "whom should we contact to get monthly settlement statements?", "question"),
    ("제안합니다", "카드형태로 된 지역화폐를 만들어서 경로당이나 주민센터에서 충전할수있게하면 "
                 "어떻겠습니까", "proposal"),
    ("Re: 품평 접수 확인", "아 접수됐군요 ㅎㅎ 감사합니다. 지난번에 말씀드린 글씨 크기 문제 고쳐지면 "
                        "알려주세요~", "other"),
    ("share", "Certificate app: after I issue the certificate, the share button do nothing.",
     "review"),
    ("기부 추적", "기부 추적 앱에서 돈을 어디에 썼는지 나오는 건 좋은데, 항목이 \"사업비 1\" 이렇게만 나와서 무슨 뜻인지 "
                "모르겠어요. 설명을 붙여주시면 좋겠습니다.", "review"),
    ("e-voting", "Since we're all testing e-voting anyway, why don't we use it for the group's own "
                 "decisions, like electing the member rep?", "proposal"),
    ("정산 지연", "지역화폐 가맹점 정산이 안내된 익일이 아니라 최근 2주간 계속 이틀 뒤에 입금되고 "
                "있습니다. 정산 일정이 지켜질 수 있도록 개선해 주시기 바랍니다.", "review"),
    ("환불", "손님이 지역화폐로 결제한 물건을 환불해 달라고 하셨는데 가맹점 화면에 취소/환불 버튼이 "
            "없습니다. 같은 날 결제 건은 취소할 수 있게 해주셔야 할 것 같습니다. 확인 부탁드립니다.",
     "review"),
    ("webhook", "Every payment triggers the webhook 2-3 times with the same tx_id. Can you pass "
                "this to the dev team?", "review"),
    ("Re: [안내] 11월 정기회의 참석 여부", "참석", "rsvp"),
    ("Re: November meeting", "Sorry, I can't make the November meeting. Please send me the "
                             "minutes if possible.", "rsvp"),
    ("캐시백 맞나요", "지역화폐 10만원 충전했는데 잔액이 10만7천원으로 나와요. 7% 캐시백이 원래 들어오는 "
                   "건가요? 혹시 잘못 들어온 거면 나중에 빠질까봐요.", "question"),
    ("탈퇴하면 봉사시간은?", "혹시 나중에 탈퇴하게 되면 지금까지 쌓인 봉사시간 기록은 그대로 남나요? 당장 "
                         "그만두려는 건 아니고 궁금해서요.", "question"),
    ("", "저 이번달까지만 할게요 죄송해요", "resignation"),
    ("경로당 후원 제안", "경로당 운영비 후원도 기부트래커에 올려서 누가 얼마 냈는지 투명하게 보이게 하면 "
                      "어떻겠습니까. 동네 노인회에서도 다들 좋다고 합니다.", "proposal"),
])
def test_sentence_forms_from_the_blind_splits(subject, body, kind):
    verdict = kind_of(subject, body)
    assert verdict.kind == kind, verdict.reason


@pytest.mark.parametrize("body", [
    "지갑앱 써보니까 생각보다 편하고 좋네요. 앞으로 많이 쓰겠습니다!",
    "Tried the wallet app, works great. Love the new home screen.",
    "제가 보낸 의견이 이번 업데이트에 반영된 걸 보니 뿌듯하네요. 앞으로도 열심히 참여하겠습니다.",
    "어제 간담회 분위기 좋았습니다. 다음에도 이런 자리 자주 있으면 좋겠네요!",
])
def test_praise_earns_nothing(body):
    verdict = kind_of("앱 좋네요", body)
    assert verdict.kind == "other", verdict.reason


def test_praise_with_a_but_is_still_a_report():
    verdict = kind_of("의견", "전체적으로 깔끔하고 좋은데 송금 버튼을 누르면 앱이 꺼져요.")
    assert verdict.kind == "review", verdict.reason


def test_thanks_whose_only_report_is_a_weak_sign_earns_no_hour():
    # "…하고 나니 …네요" has a reproduction's shape, but nothing is wrong and nothing is asked
    verdict = kind_of("감사", "업데이트하고 나니 글씨가 커졌네요. 감사합니다!")
    assert verdict.kind not in ("review", "proposal") and "weak signs" in verdict.reason, \
        verdict.reason


def test_an_hour_needs_both_readings():
    # A real symptom beside thanks: where the learned reading sees a thank-you (and is not
    # sure), the hour waits for a person, whatever fault word the forms found, because
    # detailed praise reads like a report to the forms too ("3초도 안돼서 결제 완료 뜨고").
    body = "업데이트하고 나니 송금 버튼이 안 눌려요. 그래도 늘 감사합니다!"
    reading = intent_model.model().read("감사", body.casefold())
    assert reading.kind == "other", reading.says
    verdict = kind_of("감사", body)
    assert verdict.kind == "triage", verdict.reason
    assert "both readings" in verdict.reason and "안 눌려요" in verdict.reason


def test_first_character_filter_changes_no_match():
    # The lookahead for the characters a match can start with only makes the search
    # faster: on every corpus sentence each regular expression finds the very same match
    # (same span) with it as without it.
    import re

    from mailworker.ingest import intent
    from mailworker.ingest.parse import casefolded
    regexes = [r for form in vars(intent).values() if isinstance(form, intent._Form)
               for r in (form.ko, form.en, form.any) if r is not None]
    regexes += [r for r in vars(intent).values() if isinstance(r, re.Pattern)]
    filtered = [r for r in regexes if r.pattern.startswith("(?=[")]
    assert len(filtered) >= 15
    pairs = [(r, re.compile(r.pattern[r.pattern.index("])(?:") + 2:], r.flags)) for r in filtered]
    sentences = [s for sample in load_all() for s in intent.sentences(casefolded(sample.body))]
    assert len(sentences) > 1500
    for with_filter, without in pairs:
        for sentence in sentences:
            got, want = with_filter.search(sentence), without.search(sentence)
            assert (got and got.span()) == (want and want.span()), (without.pattern[:40], sentence)


def test_intent_is_read_from_the_first_lines_of_a_long_paste():
    """A review with a long log pasted below it is read from its first lines only (the
    paste would cost more than the rest of ingest), and is still a review."""
    from mailworker.ingest import classify as classify_mod
    from tests.mailfactory import make_mail
    log = "".join(f"2026-11-{d:02d} 10:{d:02d}:00 E/WalletActivity pid={d * 97} code=0x{d:04x}\n"
                  for d in range(1, 29)) * 4
    body = ("어제 지갑 앱에서 송금 버튼을 누르면 화면이 하얗게 변하고 멈춥니다. 세 번 다 같았습니다.\n"
            "고쳐 주세요. 아래는 로그입니다.\n" + log)
    mail = parse_message(make_mail(subject="지갑 앱 오류", body=body))
    assert len(mail.new_text) > 3 * classify_mod.INTENT_CHARS
    head = classify_mod._head(mail.new_text)
    assert len(head) <= classify_mod.INTENT_CHARS and mail.new_text.startswith(head)
    assert head.endswith("\n") or mail.new_text[len(head)] == "\n"      # a line's end
    assert classify(mail).kind == "review"


@pytest.mark.parametrize("subject, body", [
    ("지역화폐 써본 후기", "지난 토요일 시장에서 지역화폐로 처음 결제해 봤어요^^ 사장님이 QR 보여주시길래 "
                    "찍었더니 금방 결제가 되더라구요~ 잔액도 바로 줄어든 게 보이고 영수증도 앱에 남아서 "
                    "가계부 쓰기 편했어요. 좋은 거 만들어 주셔서 고맙습니다^^"),
    ("전자투표 후기", "이번 주민참여예산 투표를 출근길 지하철에서 2분 만에 끝냈습니다. 본인인증 한 번 하고 "
                "선택해서 제출하니 블록 기록 번호까지 바로 나와서 제 표가 들어간 게 느껴졌어요. "
                "잘 만드셨습니다!"),
    ("API sandbox", "Integrated the merchant API into our POS this weekend. The sandbox keys "
                    "worked first try and the refund endpoint answered in under 200ms every "
                    "time. Just saying thanks."),
])
def test_praise_that_names_no_fault_and_no_wish_earns_no_hour(subject, body):
    verdict = kind_of(subject, body)
    assert verdict.kind not in CREDITABLE_KINDS, verdict.reason


@pytest.mark.parametrize("subject, body, kind", [
    ("앱 평가", "디자인 예쁘고 메뉴도 깔끔해서 좋았어요. 근데 글씨 대비가 낮아서 햇빛 아래에선 읽기가 "
              "힘들어요.", "review"),
    ("지갑 앱", "잘 쓰고 있습니다. 송금 후에 잔액이 바로 안 바뀌어서 한참 기다렸어요. 감사합니다.",
     "review"),
    ("donation tracker", "Love the donation tracker. One wish though: let me filter campaigns "
                         "by district.", "review"),
])
def test_praise_beside_a_fault_or_a_wish_is_still_a_review(subject, body, kind):
    verdict = kind_of(subject, body)
    assert verdict.kind == kind, verdict.reason


def test_the_praise_guard_never_blocks_a_labelled_review_or_proposal():
    """Every review and proposal of the corpus, read as its own kind, passes the guard; a
    praise mail read as a credit is stopped by it (checked on the corpus's thank-yous)."""
    from mailworker.ingest import classify as classify_mod
    from mailworker.ingest.intent import read_intents
    stopped = 0
    for sample in load_all():
        subject, text = classify_mod.own_words(parse_message(sample.raw()))
        kinds = [sample.kind] if sample.kind in CREDITABLE_KINDS else (
            ["review"] if sample.kind == "other" else [])
        for kind in kinds:
            verdict = classify_mod._praise_without_fault(
                classify_mod.Classification(kind, "test"), read_intents(text), subject, text)
            if sample.kind in CREDITABLE_KINDS:
                assert verdict.kind == kind, (sample.subject, verdict.reason)
            else:
                stopped += verdict.kind != kind
    assert stopped >= 150


@pytest.mark.parametrize("subject, body, kind", [
    # told on, not met: the member asks whether it is known
    ("어머니 말씀", "어머니가 전자투표 앱이 자꾸 꺼진다고 하시더라고요. 저는 써보니까 아무 문제가 없어서요. "
                "혹시 다른 분들도 그러신가요?", "question"),
    # the member met it too
    ("앱 꺼짐", "어머니가 앱이 자꾸 꺼진다고 하시더라고요. 저도 어제 송금 누르니까 꺼졌어요.", "review"),
    # a fault denied beside a fault met
    ("송금", "다른 메뉴는 문제없는데 송금 버튼만 누르면 화면이 멈춰요.", "review"),
])
def test_what_the_member_met_is_a_report_and_what_they_were_told_is_not(subject, body, kind):
    verdict = kind_of(subject, body)
    assert verdict.kind == kind, verdict.reason
