"""The learned reading of intent (mailworker/ingest/intent_model.py) and how classify
weighs it against the sentence forms."""
from __future__ import annotations

import json
import math
from email.message import EmailMessage

import pytest

from mailworker.ingest import intent_model
from mailworker.ingest.classify import classify, own_words
from mailworker.ingest.intent_model import (LEARNED_KINDS, IntentModel, ModelError, dumps,
                                            features, train)
from mailworker.ingest.parse import parse_message
from tests.member_corpus import load


def mail(subject: str, body: str, **headers) -> bytes:
    msg = EmailMessage()
    msg["From"] = "단원 <member@example.com>"
    msg["To"] = "governance@seoul-demo.example"
    msg["Subject"] = subject
    msg["Message-ID"] = "<t@example.com>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def verdict(subject: str, body: str, **headers):
    return classify(parse_message(mail(subject, body, **headers)))


@pytest.fixture
def always(request):
    """Put in use a model that reads every mail as one kind (counted from one mail)."""
    shipped = intent_model.use(IntentModel(train([(request.param, "", "아무 말")])))
    yield request.param
    intent_model.use(shipped)


def test_the_shipped_model_is_counted_from_the_corpus_as_it_stands():
    # Adding or relabelling corpus mail without retraining fails here, with the command.
    from tests.member_corpus import corpus_examples
    shipped = intent_model.MODEL_PATH.read_text(encoding="utf-8")
    assert shipped == dumps(train(corpus_examples())), \
        "the corpus changed: run scripts/train-intent-model"


def test_model_file_round_trips_and_training_is_repeatable():
    examples = [("review", "", "버튼을 누르면 꺼져요"), ("question", "", "봉사시간 알려 주세요"),
                ("auto_reply", "", "부재중입니다")]
    once, twice = train(examples), train(examples)
    assert once == twice
    assert json.loads(dumps(once)) == once
    assert once["documents"][LEARNED_KINDS.index("review")] == 1
    assert sum(once["documents"]) == 2          # auto-replies are not learned


def slow_scores(model: dict, own_subject: str, text: str) -> dict[str, float]:
    """Naive Bayes as the textbook writes it, from the counts: the reference for read()."""
    alpha, kinds = model["alpha"], model["kinds"]
    size = len(model["features"])
    totals = [sum(row[k] for row in model["features"].values()) for k in range(len(kinds))]
    scores = {}
    for k, kind in enumerate(kinds):
        score = math.log(model["documents"][k] / sum(model["documents"]))
        for feature in features(own_subject, text):
            row = model["features"].get(feature)
            if row is not None:
                score += math.log((row[k] + alpha) / (totals[k] + alpha * size))
        scores[kind] = score
    return scores


def test_fast_reading_agrees_with_the_textbook_computation():
    counts = json.loads(intent_model.MODEL_PATH.read_text(encoding="utf-8"))
    fast = IntentModel(counts)
    for sample in load("blind21")[:12]:
        own_subject, text = own_words(parse_message(sample.raw()))
        slow = slow_scores(counts, own_subject, text)
        ranked = sorted(slow, key=slow.get, reverse=True)
        reading = fast.read(own_subject, text)
        assert (reading.kind, reading.runner_up) == (ranked[0], ranked[1]), sample.label
        assert reading.margin == pytest.approx(slow[ranked[0]] - slow[ranked[1]], rel=1e-9)


def test_a_reading_names_the_members_words_that_decided_it():
    reading = intent_model.model().read("", "송금 버튼을 누르면 앱이 꺼져요. 고쳐 주세요.")
    assert reading.kind == "review"
    assert reading.cues and all(cue in "송금 버튼을 누르면 앱이 꺼져요. 고쳐 주세요." for cue in reading.cues)
    assert reading.says.startswith("learned reading: review over ")


def test_a_missing_or_damaged_model_is_named_with_what_to_do(tmp_path):
    with pytest.raises(ModelError, match="intent_model.json.*scripts/train-intent-model"):
        IntentModel.load(tmp_path / "intent_model.json")
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"format": 1, "kinds"', encoding="utf-8")
    with pytest.raises(ModelError, match="damaged.json is damaged"):
        IntentModel.load(damaged)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": 0, "kinds": ["review"]}), encoding="utf-8")
    with pytest.raises(ModelError, match="format 0"):
        IntentModel.load(old)


@pytest.mark.parametrize("always", ["review"], indirect=True)
def test_learned_words_alone_never_earn_an_hour(always):
    # A model that reads everything as a review: thanks, chatter and questions with no
    # sentence reporting or proposing still earn nothing.
    for subject, body in [("감사", "잘 받았습니다. 수고 많으세요!"),
                          ("안녕하세요", "봉사시간 확인 부탁드립니다."),
                          ("어제 써봤어요", "어제 시장에서 지역화폐로 처음 결제해 봤어요. 신기하네요 ㅎㅎ")]:
        got = verdict(subject, body)
        assert got.kind not in ("review", "proposal"), got.reason
        assert "learned reading: review" in got.reason


@pytest.mark.parametrize("always", ["review"], indirect=True)
def test_a_question_stays_a_question_and_thanks_with_a_report_goes_to_a_person(always):
    # The forms read a question (it asks to be told) beside a report: the member is answered.
    got = verdict("기부금 영수증", "앱에서 찾아봐도 영수증이 없고요. 어디서 받는지 알려주세요.")
    assert got.kind == "question", got.reason
    # The forms read thanks; the learned reading a review: a person decides, no hour yet.
    got = verdict("감사", "지난번 품평 반영해 주셔서 감사합니다. 이제 로그인이 잘 됩니다!")
    assert got.kind in ("other", "triage"), got.reason


@pytest.mark.parametrize("always", ["question"], indirect=True)
def test_the_learned_reading_can_take_an_hour_away_but_keeps_the_answer(always):
    got = verdict("앱 오류", "송금 버튼을 누르면 앱이 꺼져요.")
    assert got.kind == "question" and "the forms read review" in got.reason


@pytest.mark.parametrize("always", ["rsvp"], indirect=True)
def test_a_learned_meeting_answer_needs_a_meeting_and_an_answer(always):
    got = verdict("Re: [안내] 11월 정례회의", "넵 참석", In_Reply_To="<notice@example.com>")
    assert (got.kind, got.rsvp) == ("rsvp", "attend"), got.reason
    got = verdict("Re: [안내] 11월 정례회의", "그날은 출장이라 못 갑니다",
                  In_Reply_To="<notice@example.com>")
    assert (got.kind, got.rsvp) == ("rsvp", "decline"), got.reason
    got = verdict("행사", "참석합니다.")             # no meeting anywhere
    assert got.kind == "triage" and "no meeting is named" in got.reason


def test_a_goodbye_with_its_reasons_is_a_resignation():
    got = verdict("그만하겠습니다", "품평을 여러 번 보냈는데 반영이 안 되고 앱 글씨도 자꾸 깨져서 "
                               "힘이 빠지네요. 이번 달까지만 하고 활동 그만하겠습니다. 명단에서 빼 주세요.")
    assert got.kind == "resignation", got.reason


@pytest.fixture
def undecided():
    """A model that cannot tell a review from a question (counted from one mail of each, with
    the same words): the reading leans to an hour by nothing."""
    shipped = intent_model.use(IntentModel(train([("review", "", "아무 말"),
                                                  ("question", "", "아무 말")])))
    yield
    intent_model.use(shipped)


def test_reading_lead_is_the_log_odds_of_a_group_over_the_rest():
    model = IntentModel(train([("review", "", "앱이 꺼져요"), ("review", "", "버튼이 안 눌려요"),
                               ("question", "", "봉사시간 알려 주세요")]))
    reading = model.read("", "앱이 꺼져요")
    assert reading.kind == "review"
    assert reading.lead({"review", "proposal"}) == pytest.approx(reading.margin)
    assert reading.lead({"question"}) == pytest.approx(-reading.margin)


def test_a_credit_beside_a_question_needs_the_learned_reading_to_lean(undecided):
    got = verdict("지갑앱", "송금 버튼을 누르면 앱이 꺼져요. 다른 분들도 그런가요?")
    assert got.kind == "triage" and "leaning to an hour by less than" in got.reason, got.reason
    got = verdict("지갑앱", "송금 버튼을 누르면 앱이 꺼져요. 감사합니다.")
    assert got.kind == "triage" and "thanks" in got.reason, got.reason
    # with nothing asked or thanked, the forms' report stands
    got = verdict("지갑앱", "송금 버튼을 누르면 앱이 꺼져요. 재부팅해도 똑같아요.")
    assert got.kind == "review", got.reason
