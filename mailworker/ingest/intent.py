"""What the member means, sentence by sentence: intent, not topic words.

A member's mail names the app, hours and passwords whatever it is about; what tells a
review from a question is the *form* of each sentence: a described symptom ("…누르면 꺼져요",
"it freezes after…"), a wish about the service ("…면 좋겠습니다"), an idea for the city
("…하면 어떨까요", "…을 블록체인으로 기록하면 …할 수 있을 것 같습니다"), a question ("…나요?",
"알려 주세요", "how do I…?"), thanks ("잘 받았습니다", "got it"), a request to leave
("그만두려고 합니다", "please remove me").

``read_intents`` splits the member's own words into sentences and gives each one its
intent; ``classify`` weighs them. Every pattern here is a sentence form or a cue a person
would point at when asked "why do you think so?": the names of the cues found go into the
classification's reason.

Patterns match casefolded text. Korean cues match inside words (they take endings);
English cues match at word starts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# --- sentence forms ---------------------------------------------------------------------

# A question: a question mark, or a Korean interrogative ending, or a request to be told.
QUESTION = [
    # (not "???편의점" shown garbled, not "(maybe nonce replace?)" in brackets)
    r"(?<![?？])[?？]+(?![?？가-힣a-z0-9)\]\"'”’])",
    r"(?:(?<![가이]\s)(?<![가이])(?<!오류\s)(?<!에러\s)(?<!오류)(?<!에러)(?<!끝)나요|(?<!니)까요|인가요|건가요|는가요|은가요|던가요|ㄴ가요|는지요|건지요|인지요|던지요|을지요|할지요|될지요|습니까|입니까|ㅂ니까|나용|는지\s*궁금)"
    r"\s*[.~!ㅠㅜ^]*$",
    r"궁금(?:합니다|해요|하네요|해서|했|한데요|하여)", r"궁금\s*$",
    r"문의(?:드립니다|드려요|합니다|드리|\s*드립니다|\s*드려요|드릴|사항)",
    # the humble "I ask": "…써도 괜찮은 건지 여쭙니다"
    r"여쭙|여쭤|여쭈",
    r"알려\s?(?:주세요|주시(?!길래|더라|던데|고\s|어서)|주실|줘(?!서|가지고)|달라)", r"알고\s?싶",
    r"확인\s?(?:부탁|좀|해\s?주|해주|요청|가능할까)",
    r"(?:조회|알려|보내|발급|재발송|전송|안내)\s?(?:좀\s?)?부탁",
    r"(?:다시|재)\s?(?:보내|발송|전송|받)(?!아야|어야|야\s?(?:해|하|돼|되)|\s?드리겠|\s?드릴|겠)", r"재발송", r"보내\s?(?:주실\s?수|줄\s?수|주세요)",
    r"받고\s?싶", r"(?:확인|조회)\s?(?:하고|해\s?보고)\s?싶", r"(?:는지|었는지|였는지)\s?(?:확인\s?(?:부탁|좀|해\s?주|하고\s?싶|가능)|알려|궁금)",
    r"\b(?:could|can|would) you\b", r"\bplease (?:re)?send\b", r"\bresend\b",
    r"\blet me know\b", r"\bi(?:'d| would) like to know\b", r"\bi wonder\b",
    r"\b(?:just )?want(?:ed)? to know\b",
    # asking leave, wherever it stands in a run-on line: "이거 그냥 설치해도 되는 건가요 겁이 나서…"
    r"(?:해|써|눌러|깔아|받아|올려|보내|가|와)도\s?(?:되나요|되는\s?(?:건가요|건지|거예요|거에요)|될까요|돼요\s*[?？]|"
    r"괜찮(?:나요|을까요|은가요|은\s?건가요))",
    # indirect questions: "어떤 서류로 내면 되는지 모르겠어요", "I'm not sure how to"
    r"(?:는지|을지|ㄹ지|인지)\s?(?:모르겠(?!지만|는데|으나)|알고\s?싶|궁금)", r"\bnot sure (?:how|where|when|what)\b",
    # a question word before a plain polite ending, typed without "?": "업데이트 어디서 받아요",
    # "몇 시에 시작해요" ("어디서나", "어떻게 해도", "언제든" are no questions)
    r"(?:^|\s)(?:어디서|어디에서|어디로|어디에|어디|어떻게|언제|몇\s?(?:시|시간|번|개|층|명))"
    r"(?!\s?(?:나|든|라도|이든|해도|하든|봐도|눌러도|써도|해\s?봐도))"
    # (and not an embedded "…는지": "어디서 왔는지 볼 수 있으면 좋겠어요")
    r"\s(?:(?![는은건인을던]지)[^.?!]){0,30}?(?:요|죠|까)\s*[.~!ㅠㅜ^]*$",
    # the question word and its ending typed together: "회의 몇시에요", "장소 어디예요"
    r"(?:^|\s)(?:몇\s?시|언제|어디)(?:에요|예요|이에요|인가요|죠|쯤이에요|쯤인가요)(?:\s*[.~!ㅠㅜ^]*$|\s)",
]
# Questions that ask to be told something (how, where, when): the member wants an answer,
# even when a sentence nearby describes what happened.
INFO_QUESTION = [
    r"어떻게", r"어디", r"언제", r"몇\s?시", r"방법", r"여쭙|여쭤|여쭈", r"알려(?!진|\s?줘서|\s?주셔서|\s?준|\s?주신|\s?줬)", r"궁금", r"문의", r"뭔가요", r"무엇",
    r"다시\s?(?:보내|받)", r"재발송", r"보내\s?주",
    r"\bhow\b", r"\bwhere\b", r"\bwhen\b", r"\bwhat\b", r"\bwhich\b", r"\bdo i\b",
    r"\bcan i\b", r"\bshould i\b", r"\bis there\b(?! a (?:reason|way to (?:fix|make|change|show)))",
    r"\bplease (?:re)?send\b", r"\bresend\b",
    # ("could you show the title on the confirm screen?" asks for a change: a wish; "could
    # you have a look?" after a report asks staff to look into it, as "확인 부탁드립니다" does)
    r"\b(?:could|can) you\b(?! (?:please |maybe |also )?(?:show|add|make|fix|change|put|let|allow|"
    r"display|keep|remove|move|increase|reduce|enlarge|have a look|take a look|look into|"
    r"pass (?:this|it|that) (?:on|to|along)|forward (?:this|it)|"
    r"check (?:it|this|that|on this|on that|the|into|why)\b))",
    # either-or: "is this a real message or some kind of phishing?", "버그인가요 아니면 제가 잘못한
    # 건가요?": the member wants to be told which
    r"\b(?:is|was|are|were|did|do|does|should)\b[^?]{3,80}?\bor\b(?! (?:is it just me|not)\b)[^?]{3,80}\?",
    r"(?:인가요|건가요|나요|ㄴ가요|는\s?건지|인지)[,\s]*(?:아니면|혹은)",
    r"(?:는지|을지|ㄹ지|인지)\s?(?:모르겠(?!지만|는데|으나)|알고\s?싶|궁금)", r"\bnot sure (?:how|where|when|what)\b",
    r"\b(?:just )?want(?:ed)? to know\b",
    r"(?:해|써|눌러|깔아|받아|올려|보내|가|와)도\s?(?:되나요|되는\s?(?:건가요|건지|거예요|거에요)|될까요|돼요\s*[?？]|"
    r"괜찮(?:나요|을까요|은가요|은\s?건가요))",
    # whether doing so is right: "이걸로 종이 등본 제출을 대신하는 게 맞는 건가요?"
    r"(?:게|것이|거)\s?맞(?:는\s?건가요|나요|을까요|는지)", r"\bam i (?:reading|doing|using) it right\b",
]
# A described symptom or difficulty when using the service.
SYMPTOM = [
    r"안\s?(?:돼|되|됨|됩|먹|나와|나오|나옵|보여|보이|보입|보임|나옴|뜸|열림|눌림|옴(?![가-힣])|열려|열리|떠요|뜹|넘어|눌러|눌리|읽|맞|"
    r"돌아|들어가|바뀌|움직|찍|잡|켜|와요|옵니다|오네|와서|왔|와)",
    r"(?:안|못)\s?하고\s?있", r"못\s?(?:하고|해요|합니다|하겠|들어가|넘어)", r"못\s?(?:쓰|써)(?!\s?보|봤)",
    r"오류", r"에러", r"버그", r"오타", r"\berror", r"\bbug", r"\bcrash", r"\btypo",
    r"(?<![\d,.])[45]\d\d(?![\d,])", r"반환", r"(?:나오|보이|보였|떴|뜨|됐|되)다가\s",
    r"새로\s?고침|재시작하면|다시\s?켜면|때만\s?(?:그래|그럽|그렇)",
    # ("잔액도 그대로 있네요" after a reinstall is kept, not stuck)
    r"(?<!도\s)(?<!도)(?<!원\s)그대로\s?(?:[가-힣]{1,2}\s?)?(?:예요|이에요|나옵|나와|입니다|있|남아|떠|보여|보입)",
    # shown as the wrong thing, or not as expected: "1900-01-00으로 나옵니다", "…이 아니라 …이 열려요"
    r"(?:으로|로)\s?(?:나옵|나와|나오|표시돼|표시됩|보입|보여|떠요|뜹|바뀌어|바뀝|열려|열립)",
    r"에서는\s?(?:정상|잘\s?(?:돼|되|나와|보여))",
    r"아직(?:도)?\s.{0,20}?(?:보입|보여|나와|나옵|떠|그대로|남아)",
    r"(?:야|어야)\s?(?:하는데|되는데)", r"종료돼|종료됩|종료되",
    # not what was promised: "안내된 익일이 아니라 이틀 뒤에 입금되고 있습니다"
    r"(?:이|가)\s?아니라\s.{0,30}?(?:입금|처리|반영|나와|나옵|표시|와요|옵니다|되고|돼요|됩니다)",
    # a reproduction: an action in the app and what it did
    r"(?:누르면|눌러도|누르니|눌렀더니|눌렀는데|클릭하면|켜면|돌리면|열면|들어가면|터치하면|탭하면|선택하면|"
    r"입력하면|다운로드하면|스캔하면|찍으면|보내려고\s?하면|하려고\s?하면|하려고\s?하니)",
    # an attempt that did not go as planned: "결제를 시도했는데 … 취소됐습니다"
    r"(?:시도|눌렀|했|해\s?봤|해봤)는데\s.{0,60}?(?:취소|실패|안\s|못\s|만\s?계속|계속\s)",
    r"너무\s?(?!감사|고맙|좋|유익|친절|편하|편해|편리|반갑|기쁘|재밌|재미있|즐겁|잘|멋|훌륭|수고|빠르|빨라|쉽|쉬워|간편)[가-힣]{1,4}",
    r"문제가\s?(?:될|있|생|발생|됩)|이건\s?문제",
    r"(?:까지는|전에는|예전에는|이전에는|어제는)\s.{0,30}?(?:보였|됐|되었|나왔|잘\s)",
    # Korean report grammar: "…지 못해요", "…ㄹ 수가 없어요", "자꾸 …", "계속 …요", "없어졌어요"
    r"지\s?못(?:해|합|하고|했|하네)", r"수가?\s?없(?:어|습|네|고|더라)", r"자꾸", r"계속\s?[가-힣]{1,6}(?:요|니다|네요)",
    r"없어져|없어졌|없어지|초기화돼|초기화되|날아가|날아갔|늦게\s?(?:떠|나와|와|옵|뜹|반영)|다르게\s?(?:나와|나옵|표시)",
    r"\bkeeps? \w+ing\b|\bkept \w+ing\b",
    # every time, and what the member is made to do about it: "매번 …물어보네요",
    # "처음부터 다시 로그인해야 합니다", "have to refresh manually"
    r"(?:다시|또|일일이|직접|수동으로)\s?[^.?!]{0,20}?(?:해야|야)\s?(?:돼|되|합|해요|하네|하더)",
    r"\b(?:i|you|we)? ?(?:have|had) to (?:\w+ )?(?:refresh|restart|reopen|retype|re-?enter|log ?in|reinstall|close|do it|manually)\b",
    # the app did something though the member did not or did the opposite: "거래도 안 했는데 … 알림이 옵니다"
    r"(?:안|않았|않|켜\s?놨|켜놨|껐|꺼\s?놨|허용했|설정했|했|눌렀|바꿨)(?:\s?했)?는데도?\s[^.?!]{0,60}?(?:와요|옵니다|오네요|떠요|뜹니다|나와요|나옵니다|네요|해요|있어요|있습니다|돼요|됩니다)",
    r"가려져|가려서|가려요|가립니다|가려지|겹쳐|겹칩",
    r"\bplain ?text\b|\bunencrypted\b|\binsecure\b",
    # ("cold start went from … to under …" is praise)
    r"\bwent from\b(?![^.]{0,24}\bto (?:under|less|below|just|only)\b)|\bregress",
    r"\bcould(?:n'?t| not) (?:tell|see|find|figure)\b|\bno confirmation\b|"
    r"\b(?:jumped|jumps|went|goes|kicked|sent me|bounced|bounces) (?:straight |right )?back to (?:the|my) "
    r"(?:main|home|list|login|start|first|previous|menu)",
    # "응답이 평균 8초 이상 걸리는 현상이 있습니다"
    r"초\s?이상\s?걸|분\s?이상\s?걸|현상이\s?(?:있|발생|생기|생겨|나타|반복)",
    r"배터리[^.?!]{0,15}?(?:닳|소모|빨리)|발열|뜨거워|\bdrains?\b",
    r"\boverflows?\b|\boverlaps?\b|\bhas no effect\b|\bno effect\b",
    r"처음부터\s?다시|\bstart over\b|\bfrom scratch\b",
    r"\b0[- ]?bytes?\b|\bzero bytes\b",
    r"실패|안\s?되는\s?경우|\bdiffers?\b|\bdifferent from\b|\bshows? (?:up )?as\b|\beven in\b|\bout of order\b",
    r"꺼짐|안됨|안\s?나(?:요|서|고|네|와)|만\s?(?:와요|옵니다|와서|돼요|됩니다)",
    r"(?:해도|봐도|눌러도|켜도|깔아도|바꿔도)\s?(?:똑같|마찬가지|같아요|같습니다|같네요|그대로)",
    r"[\"'“”‘’「」].{1,40}?[\"'“”‘’「」]\s?(?:이|가|라고|라는|로)?\s?(?:나와|나왔|나옵|떠|떴|뜹|뜨|표시)",
    r"\bha(?:s|ve)(?:n'?t| not) (?:changed|updated|moved|arrived|appeared)\b|"
    r"\bisn'?t (?:really )?(?:recorded|showing|updated)\b",
    r"\bdisappears?\b|\bvanish|\bnothing happens\b|\bresult: |\bnot found\b|\buseless\b",
    r"\b(?:two|three|four|five|six|several|many|\d+) times\b", r"\boverwrit", r"\btoo aggressive\b",
    r"\b(?:as|says?|shows?|reads?|announced as)\s[\"“']", r"\brandom (?:order|\w+)\b",
    r"\b(?:smaller|lower|less|shorter|slower|bigger|larger|longer|worse) than\b", r"\bempty\b",
    r"\bused to\b|\bworked (?:before|fine|yesterday)\b", r"\b(?:don'?t|doesn'?t|didn'?t) match\b",
    r"\bthrows?\b|\bexception\b|\bstack ?trace\b|\btimes? out\b|\bthen it\b|\banyway\b",
    r"(?:두|세|네|다섯|여러)\s?(?:번|개|줄|건)(?:이|가)?\s?(?:씩|찍|나와|나오|들어|떠|와|보여|쌓)",
    r"꺼져|꺼집|꺼지|꺼졌|튕겨|튕김|튕기|튕깁|멈춰|멈춥|멈추|멈춤|먹통|느려|느립|느림|느리",
    # ("1분도 안 걸리네요" is praise)
    r"오래\s?걸|(?<!안\s)(?<!안)(?:걸립니다|걸려요|걸리네)|초\s?넘게|초\s?정도|초씩|한참",
    r"깨져|깨집|깨지|잘려|잘립|잘리|사라져|사라집|풀려|풀립|비어\s?(?:버|있)|흐리게|하얗게|검은\s?화면",
    # money gone, or only part of it there: "통장에서 10만원 빠져나감", "앱에는 5만원만 있음"
    r"빠져\s?나(?:감|갔|가서|가고)|(?:원|개|건|번)만\s?(?:있|들어|찍|나와|떠|보여|와)",
    r"중복|(?:두|\d\s?(?:~\s?\d\s?)?)\s?(?:번|줄)씩|두\s?번\s?(?:나|와|들어|뜨|옴|오|뜸|찍)|반복", r"반응이?\s?없|아무\s?(?:반응|것도)",
    r"안보여|안돼|안되|안됨|안나|안와|안떠|업ㅅ", r"만료된|잘못\s?(?:나|뜨|표시)|틀려|틀립|이상해|이상하게|이상합",
    r"라고\s?(?:뜹|떠|나옵|나와|나오|뜨)", r"다고\s?(?:뜹|떠|나옵|나와|나오|뜨)", r"뜨고|뜨면서|뜹니다|떠요|떠서",
    # (not "1분도 안 걸리네요": not even a minute is praise)
    r"(?<!분도)(?<!초도)(?<!시간도)\s안\s?[가-힣]{1,6}(?:요|니다|네요)(?:[\s.!~ㅠㅜ]|$)", r"\b(?:does|do|did) nothing\b",
    r"불편|번거롭|번거로|헷갈|어렵(?:습니다|네요|고|더라)|어려워|힘들(?:어|더|고|었|네)|답답|부셔|과한|과합|"
    r"너무\s?(?:작|길|많|느|오래|커|작아|어두|밝)",
    r"\bfreez", r"\bhang", r"\bstuck\b", r"\bfail", r"\bbroken\b", r"\bdoesn'?t\b", r"\bdoes not\b",
    r"\bdon'?t work", r"\bwon'?t\b", r"\bcan'?t\b", r"\bcannot\b", r"\bnot working\b",
    r"\bblank\b", r"\bgarbl", r"\bmojibake\b", r"\bslow", r"\blag", r"\btakes? (?:\d|almost|about)",
    r"\btwice\b", r"\bduplicat", r"\bwrong\b", r"\bmissing\b", r"\bno label", r"\binstead of\b",
    r"\b(?:tomorrow|yesterday)'?s (?:date|time)\b|\b(?:a day|one day|an hour|\d+ (?:hours?|days?)) "
    r"(?:early|earlier|late|later|off|ahead|behind)\b",
    r"\b(?:seconds?|minutes?|hours?) late\b|\barrives? late\b|\bdelayed\b|\ball at once\b",
    r"\bimpossible\b|\bunusable\b|\bunable to\b",
    r"노출(?:돼|됩|되|됨|이\s?돼)|스팸\s?(?:함|메일함|편지함|처리)|(?:번|개)(?:이나|씩이나)\s",
    r"\b(?:drops?(?! (?:a|you a|us a) (?:note|line))|rejects?|(?<!please )(?<!pls )(?<!just )ignores?|loses|truncat\w*|corrupt\w*|resets?)\b",
    r"\binvisible\b|\bunreadable\b|\billegible\b|\bbarely\b", r"\bannoying\b", r"\bhard to\b", r"\bconfusing\b", r"\breturns?\b", r"\blogged out\b",
    r"\blogs me out\b", r"\bloop\b", r"\breproduc", r"\bsteps?:", r"\bexpected\b",
    r"\bsame result\b", r"\bevery time\b", r"\bcovers\b", r"\bbreaks\b", r"\brisky\b",
    r"\bonly after\b", r"\bis gone\b", r"\bstill shows\b", r"\bstays?(?: in| as| on| at)?\b", r"\bweird\b|\bstrange\b", r"\bcut off\b",
    r"\bevery (?:single )?(?:time|launch|start|login|transfer)\b", r"\bon every\b",
    r"\beven (?:after|when|though)\b", r"\bthere'?s no\b", r"\bthere is no\b",
    r"\bworks?,? but\b", r"\bpops? up\b",
    r"만\s?(?:나옵|나와|나오고|보여|보입|떠요|뜹|돌|계속)", r"당황|헤맸|헤매|황당",
    r"\btoo (?:short|long|small|big|slow|fast|many|few|hard|dark|bright|low|high|late|early|"
    r"complicated|much)\b", r"\bi lost\b", r"\bmisread\b",
]
# Absence and negation say "a symptom" only about a part of the service ("다크모드가 없어서"),
# not about anything else ("답장이 없어요", "시간이 없어서").
WEAK_SYMPTOM = [r"없어서|없네요|없습니다|없어요|없고|없다", r"않(?:습니다|아요|네요|고|아서)", r"\bstill\b",
                r"모르겠|어디\s?있는지|찾을\s?수|\bnever\b|\bcan'?t find\b",
                # surprise is a report only beside something wrong ("깜짝 놀랐어요" at a payment
                # that went through at once is praise)
                r"놀랐|깜짝",
                r"\b(?:don'?t|didn'?t|isn'?t|aren'?t|wasn'?t)\b",
                r"\bthere is no\b", r"\bno way to\b", r"\bwithout\b", r"\balready\b", r"매번|번번이|때마다", r"\bdoes(?:n't| not) have\b"]
# A wish or request about how the service should be (a review when about the app,
# an idea when about a new service for the city).
WISH = [
    r"면\s?좋겠|면\s?좋을|으면\s?합니다|으면\s?해요|했으면|있었으면|면\s?합니다",
    r"해\s?주세요|해주세요|주시면|주셨으면|주실\s?수|해\s?주셨으면|해\s?주시|해\s?주셔야",
    r"[가-힣](?:어|아|여|워|줘)\s?주(?:세요|십시오|셨으면|시면|시기)", r"(?:주시면|주면)\s?(?:고맙|감사)",
    r"추가해|넣어\s?주|고쳐|수정해|수정\s?부탁|개선|바꿔\s?주|줄여\s?주|늘려\s?주|표시해",
    # "보여 주면/주셨으면" wishes; "QR 보여주시길래" tells what someone did
    r"보여\s?(?:주(?:면|시면|셨으면|었으면|시기|도록|게|는\s?(?:게|기능))|줘야)",
    r"\b(?:one|my|small|only|a|just one) wish\b|\bi wish\b|^let (?:me|us) (?!know\b)\w+",
    r"\bplease (?!(?:re)?send|remove me|take me|unsubscribe|let me know)[a-z]+\b", r"\bshould\b",
    r"\bwould be (?:nice|great|good|helpful|better)\b|\bwould (?:really )?help\b",
    r"\b(?:it'?d|it would) be (?:handy|nice|great|good|helpful|better|useful)\b|\b(?:one|a) small thing\b",
    r"^(?:maybe|perhaps) (?:just )?(?:show|add|make|put|let|give|display|send)\b",
    r"\bcould (?:the|it|you)\b", r"\bneeds? (?:to|a|an)\b",
]
# An idea for a new service or policy: proposing words and conditional-benefit forms.
IDEA = [
    # proposing, not the word "proposal": "제안합니다", "…을 제안", "아이디어가 있어" (while
    # "제가 낸 제안이 신문에 소개됐어요" only talks about one)
    r"제안(?:합니다|드립니다|드려요|드리|하고\s?싶|하려|해\s?봅|입니다|이에요|예요|\s?하나|\s?한\s?가지|사항|\s?:)",
    r"(?:을|를)\s?제안|(?:정책|서비스|사업|협력|새로운)\s?제안|제안\s?(?:드립|합니다)|^\[?제안",
    r"건의(?:합니다|드립니다|드려요|사항|하고|\s?:)|아이디어(?:입니다|예요|이에요|가|\s?하나|\s?공유|를|로|\s?:)",
    r"생각났|생각해\s?봤는데|떠올랐|도입", r"(?:정책|제도|사업)(?:이요|입니다|이에요)",r"^(?:아이디어|제안|건의)(?:요|입니다|합니다|하나)?[.!~]*$",
    # any change and a concrete good it would do: "…보내면 가짜 공문 사기를 막을 수 있을 듯해요"
    r"[가-힣](?:면|게\s?되면)\s.{0,80}?(?:줄어|줄일|늘어|늘릴|막을|빨라|좋아질|투명해|편해질|쉬워질|아낄|절약|없앨|사라질)",
    # instead of what is done now, something else, and what it would bring: "휴지 주던데 그거
    # 말고 지역화폐 포인트로 주면 사람들이 훨씬 많이 모아올 거 같아요"
    r"말고\s.{0,40}?[가-힣](?:면|게\s?하면)\s.{0,60}?(?:것|거)\s?같",
    r"어떨까|어떨지|어떠|어때요|어떨까요|어떤가요\s*[?？]?\s*$", r"면\s?어떻겠\s?(?:습니까|어요|나요)",
    r"해\s?보면|해보면|해\s?보는|시범", r"만들면|만들어\s?(?:주|서)|구축", r"플랫폼",
    r"넓히|확대|확장|다른\s?분야|다음에는",
    # the same thing for something new: "같은 방식으로 예비군 이수증도 발급되게 하면"
    r"같은\s?(?:방식|식)으로|이런\s?(?:식|방식)으로",
    r"(?:전자|디지털|모바일)\s?(?:증명서|문서|등록증|신분증|서류)(?:으로|로)\s?(?:발급|만들|바꾸|전환|대체)",
    r"[가-힣]도\s[^.?!]{0,20}?처럼\s",
    r"(?:도|까지)\s.{0,20}?(?:발급|적용|도입|확대|연동)(?:되게|하게|해\s?주|하면|되면)",
    # a new service described: "…볼 수 있게 하는 서비스입니다"
    r"(?:수\s?있게|있도록|하는|주는)\s?(?:서비스|제도|시스템|플랫폼|사업)",
    # a change and the good it would do: "…로 하면 … 빨라질 것 같습니다", "개방해 주시면 … 만들 수 있습니다"
    r"(?:하|되|바꾸|만들|쓰|주|올리|남기|옮기|맡기|모으|열|주시|해\s?주시)(?:면|게\s?되면)\s.{0,80}?"
    r"(?:수\s?있|것\s?같|줄어|줄일|늘|없을|쉬워|편해|편할|막을|빨라|좋아질|나올|않아도|필요\s?없|아낄|"
    r"절약|투명해)",
    r"블록체인(?:으로|에|을\s?통해|으로\s?만)\s?.{0,12}?(?:기록|관리|남기|남겨|올리|올려|인증|발급|공개|"
    r"투표|바꾸|연결|정산|공유|하면|처리)",
    r"(?:기록|관리|남기|공개|발급|연동|공유|바꾸|인증|적립|연결|운영|지급|통합|일원화|연계)(?:하|해)?(?:면|해서)\s.{0,60}?"
    r"(?:수\s?있|것\s?같|줄어|줄일|늘|없을|쉬워|편해|편할|막을|빨라|좋겠|좋을)",
    r"\b(?:i|we)(?: would|'d)?(?: like to| want to)? (?:propose|suggest)\b", r"\bpropos(?:e|ing) (?:that|a|an|the)\b",
    r"\b(?:proposal|suggestion|idea)\s?(?::|-|for)", r"\bsuggest(?:s|ing)? (?:that|a|an|the|adding)\b",
    r"\b(?:an|one|my|two|some|new|an? \w+) ideas?\b", r"\bhow about\b", r"\bwhat if\b",
    r"\bwould be (?:great|nice|good) if the city\b", r"\bwhy (?:don'?t|not) we\b", r"\bthe city (?:could|should|to)\b",
    r"\b(?:seoul|city|district|school|librar(?:y|ie)|hospital|government|ministr(?:y|ie)|"
    r"public \w+)s? (?:could|should)\b", r"\bintroduce\b", r"\badopt\b",
    # a pilot proposed, not the one the member is in ("joined the merchant payment pilot")
    r"\b(?:a|new|small|trial|first) pilot\b|\bas a pilot\b|\bpilot (?:it|this|that|the idea|a|an)\b|"
    r"\bpilot(?:ed|ing)? (?:in|at) (?:one|a|two|few|some)\b",
    r"\blet (?:citizens|residents|people)\b", r"\bon the (?:city )?(?:ledger|blockchain)\b",
    r"\bissue\b.{0,40}\bas tokens?\b", r"\blook into\b",
    r"\b(?:people|parents|citizens|residents|buyers|students) would\b",
    r"\bopen to (?:a |an |my |some )?(?:proposals?|suggestions?|ideas?)\b",
    # a change and who it would serve: "publish an open API so journalists can build …"
    r"\bso (?:that )?(?:citizens|residents|people|civic \w+|journalists|anyone|everyone|the public|"
    r"parents|students|researchers)\b.{0,40}?\b(?:can|could|would)\b",
]
# Words that put a wish on the city's side (a new service, a policy) ...
CITY = [r"서울시|시에서|시가\s|시\s?차원|구청|시민|공공|정책|사업|서비스를|서비스로|제도|예산|행정|"
        r"시스템을|시스템으로|투명|"
        r"플랫폼|블록체인으로|블록체인에|블록체인\s?투표|지역화폐",
        r"구립|시립|공립|도서관|주민센터|동사무소|보건소|구마다|자치구|공공기관|지자체|민원|과태료|이의신청",
        r"\bcity\b", r"\bseoul\b", r"\bcitizens?\b",
        r"\bschools?\b|\blibrar(?:y|ies)\b|\bhospitals?\b|\bgovernment\b|\bministr(?:y|ies)\b", r"\bpublic\b", r"\bdistricts?\b", r"\bcouncil",
        r"\bpolicy\b",
        r"\bresidents\b", r"\bpilot\b"]
# ... or on the app's side (how the beta service should behave).
APP = [r"앱|어플|화면|버튼|메뉴|설정|알림|글씨|글자|표시|팝업|로그인|설치|업데이트|목록|내역|페이지|"
       r"링크|입력|키보드|안내\s?문구|다크\s?모드|기능|지갑|증명서|인증|결제|송금|잔액|버전",
       r"음성\s?(?:안내|지원|인식)|화면\s?낭독|톡백|보이스\s?오버|\btalkback\b|\bvoiceover\b|\bscreen ?reader",
       r"\bapp\b", r"\bscreen", r"\blog ?(?:in|out)\b|\blogged (?:in|out)\b|\bprofile\b|\bsign ?in\b", r"\bbutton", r"\bmenu", r"\bsetting", r"\bnotification",
       r"\bfont", r"\bpage\b", r"\blink", r"\blimit\b", r"\binput\b", r"\bwallet\b", r"\bapi\b",
       r"계정|탭|다운로드|검색|화면|잔고|회원가입|가입|회원정보|저장|업로드|사진|글꼴|폰트|캘린더|"
       r"아이콘|위젯|배너|팝업|카메라|스캔|이체|한도|인식|촬영|복사|붙여넣|프로필|약관|인증서|비밀번호\s?입력",
       # doing something in the app names it too: "…누르면", "tapping …"
       r"누르|눌러|눌렀|클릭|터치|탭하|스크롤", r"\btap|\bclick|\bpress|\bscroll|\bswipe", r"\bbalance\b", r"\bhistory\b", r"\btransfers?\b", r"\bqr\b",
       r"\baccount\b", r"\bdashboard\b", r"\btab\b", r"\bfeature", r"\bexport", r"\bversion\b",
       r"\bbeta\b", r"\bsession\b", r"\bform\b", r"\bcertificate", r"\bscanner\b", r"\bsdk\b",
       r"\bpin\b", r"\bprompt\b", r"\bface id\b", r"\botp\b", r"\bonboarding\b", r"\bwebhook",
       r"\btoast\b", r"\bfont", r"\bicon", r"\bwidget", r"\bupload", r"\bsign ?up\b", r"\bcalendar\b",
       r"\bcopy\b", r"\bpdf\b", r"\bcsv\b", r"\blabels?\b", r"\bcontrast\b", r"\bkeyboard\b",
       r"\berror messages?\b", r"\bmode\b", r"\bcallbacks?\b", r"\bintegration\b", r"\bpayments?\b",
       r"\bpos\b", r"\bfield\b", r"\bcold start\b", r"\blaunch", r"\bbattery\b", r"배터리|키보드",
       r"정산|입금|환불|가맹점",
       r"체크인|\bcheck-?ins?\b|qr|입장\s?기록|\bhours? (?:record|page)\b|기부\s?(?:내역|트래커|하기)|트래커|\btracker\b"]
# Thanks, acknowledgement and chatter: no request, no report.
THANKS = [
    r"감사|고맙|고마워|수고|잘\s?받았|받았습니다|받았어요|받았어|받았습니|잘\s?받|확인했|확인\s?했|확인\s?완료|"
    r"알겠습니다|알겠어요|알겠습니|^넵|^네[\s.~!^]*(?:$|알|확인|받|설치)|^넹|복\s?많이|잘\s?부탁|반갑|인사\s?드|"
    r"공유\s?(?:드립|합니다|드려)|보내\s?드립니다|보내드립니다|참고하세요|연락\s?드립니다|연락드릴|"
    r"(?:써|해|읽어|설치해|확인해)\s?(?:볼게요|보겠습니다|볼께요)|"
    r"보내겠습니다|유익했|좋았어요|배웠습니다|조심하세요|챙기세요|건강하세요|고생\s?많|잘\s?(?:봤|읽었)|되세요|뵙겠|"
    r"^확인\s?요|영광|기다릴게|기다리겠|(?:설치|확인|등록|제출)\s?완료|감사(?:를|의\s?말씀)?\s?전해",

    r"\bthanks?\b", r"\bthank you\b", r"\bgot it\b", r"\bnoted\b", r"\breceived\b",
    r"\bperfect\b", r"\bcheers\b", r"\blooks good\b", r"\bwill (?:send|try|test)\b",
    r"\bhave a (?:good|nice|great)\b", r"\bworks now\b", r"\bsolved\b", r"\ball i needed\b",
    r"\bgreat to meet\b", r"\blet(?:ting)? me know\b", r"\bappreciate",
]
# Passing something on, greetings: chatter, however long the sentence.
CHATTER = [r"(?:링크|자료|기사|사진|파일|소식)(?:입니다|예요|이에요|\s?드립니다|\s?공유|\s?보내|\s?전달|\s?남겨|\s?남깁|\s?올려|\s?올립)",
           r"(?:분들|분은|분들은)\s[^.?!]{0,12}?(?:보세요|들어\s?보세요|참고하세요|오세요|신청하세요)",
           r"공유\s?(?:드립|합니다|드려)|전달합니다|전달\s?드립니다|참고하세요|참고만|참고\s?(?:부탁|바랍)|"
           r"알려\s?드립니다|알려드려요|새해|명절|추석|메리\s?크리스마스",
           r"\bfyi\b", r"\bforward(?:ing|ed)?\b", r"\bin case\b",
           r"\bsharing (?:this|some|the (?:link|article|news))\b|\bsharing an? (?:link|article|video|post)\b",
           r"\bshare (?:this|an?|some)\b", r"\barticle\b",
           r"\bmight be useful\b", r"\bthought you'?d\b", r"\bhappy new year\b",
           r"\bmerry christmas\b", r"\bhappy holidays\b|\bsee you (?:all )?(?:next|soon|there|on)\b",
           r"\bseason'?s greetings\b"]
# What someone else said or did, reported ("…확대한다는 기사네요", "…한대요", "the article
# says"): passing news on, not the member's own idea or report.
REPORTED = [r"(?:다는|라는|했다는|된다는|한다는)\s?(?:기사|뉴스|소식|보도|발표|내용|얘기|이야기|글)",
            r"(?:한다고|했다고|된다고|됐다고|였다고|이라고)\s?(?:하네요|합니다|해요|하더라|들었|나왔|보도)",
            r"(?:한대요|했대요|된대요|한답니다|했답니다|된답니다)",
            r"\b(?:according to|the article|this article|news that|reports? that|announced that)\b"]
# Gratitude for something done ("자리 만들어 주셔서 감사합니다", "thanks for sending"): thanks,
# whatever words the thing done has in it.
GRATITUDE = [r"(?:주셔서|줘서|셔서|해서|주시고)\s?(?:정말\s?|너무\s?|진심으로\s?)?(?:감사|고맙|고마워)",
             r"덕분에", r"\bthanks? (?:you )?(?:\w+ )?for\b", r"\bappreciate\b",
]
# Taking back an earlier mail ("앞의 메일은 없던 걸로 해주세요", "please ignore the bug report I
# sent"): whatever the mail tells, it reports nothing new.
RETRACT = [r"\bplease (?:ignore|disregard)\b|\bnever ?mind\b|무시해\s?주|없던\s?(?:걸로|일로)|"
           r"알고\s?보니\s?(?:제|저의|내|저희)\s|\bturned out (?:it was )?my\b|\bmy (?:own )?(?:mistake|fault|bad)\b|"
           r"제\s?(?:실수|착각|잘못)(?:였|이었|입니다|이에요|예요)"]
# Acknowledgement words that say "thanks" only in a short line ("received", "noted"): in a
# longer sentence they are part of a report ("received the same webhook five times").
ACK_SHORT_CHARS = 40
# A request to leave the group (해촉) in everyday words. "회원 탈퇴 버튼" (an app account) is
# not one: 탈퇴 counts only as the member's own wish or about the group.
LEAVE = [
    r"해촉", r"사퇴", r"사임", r"위촉\s?해제",
    r"(?:활동|단원)[^.?!]{0,12}?(?:종료|중단|마무리|탈퇴|그만)\s?(?:하고자|하겠|하려고|할게)",
    # ("봉사활동 종료 시각" is a time in the volunteer-hours app)
    r"활동(?:을|은|도)?\s?(?:중단|중지|종료|마무리|그만|더는\s?못|더\s?이상\s?못|마치|마칠|접|끝내|쉬려|쉬겠)"
    r"(?!\s?(?:시각|시간|일시|날짜|일자|버튼|예정|처리|후))",
    r"(?:명단|단원|그룹|모임|거버넌스|멤버)(?:에서|에서는)\s?(?:제외|빠지|빼|지워|삭제)",
    r"더\s?(?:이상|는)\s?(?:메일|연락)(?:을|를|도|은)?\s?받고\s?싶지|메일(?:도|은)?\s?그만\s?(?:보내|받)",
    r"(?:활동|단원)[^.?!]{0,12}?(?:계속|이어)[^.?!]{0,10}?(?:어렵|없|힘들|못)",
    r"(?:을|를)\s?끝으로\s.{0,20}?(?:활동|단원)",
    # ("블록체인 모임 나가니까" is going to it)
    r"(?:단원|거버넌스|그룹|모임)(?:에서|을|를|은|는|도)?\s?(?:탈퇴|그만|나가(?!니까|서\s|는데|면)|빠지|빼)",
    r"탈퇴\s?(?:하고\s?싶|하겠|합니다|신청|할게|하려|를\s?원|처리)", r"^탈퇴(?:요|할래요|할게요)\s*[.!~]*$",
    r"(?:이번\s?달|이번\s?기수|올해|이번\s?학기|연말)까지만\s?(?:할게요|하겠습니다|하겠어요|활동)",
    # ("그만두시는 분" are others)
    r"그만\s?(?:두(?!시)|둘|하겠|할게|하려|할래|하고\s?싶|할까)", r"명단에서\s?(?:빼|지워|삭제)",
    r"빼\s?주세요|빼주세요|지워\s?주세요",
    r"더(?:는|\s?이상)\s?(?:활동|못\s?할|못할)", r"활동(?:하기|을\s?계속하기|이)\s?어렵",
    r"(?<![가-힣])(?:저는|전|제가|이제|저도)\s?(?:이제\s?)?(?:그만\s?)?(?:빠지|물러나)(?:겠|려고|려\s?합|기로|고\s?싶)",
    r"\bresign", r"\bstep(?:ping)? down\b", r"\bwithdraw from\b", r"\bwithdraw\b$",
    r"\bleave the (?:group|governance)", r"(?<!force )(?<!force-)\bquit\b(?!ting)(?! and reopen)",
    r"\bwon'?t be renewing\b|\bnot (?:be )?renew(?:ing)? (?:my|for)\b",
    r"\b(?:don'?t|do not) include me in\b", r"\bremove me\b", r"\btake me off\b",
    r"\btake my name off\b", r"\b(?:be )?taken off the (?:member |mailing )?list\b",
    r"\bstop (?:his|her|my) activit(?:y|ies)\b",
    r"\b(?:delete|remove) (?:me|my (?:e-?mail|address|name|account))(?: address)? from (?:the|this|your) "
    r"(?:group|list|mailing|member)", r"\bmy last month (?:with|in) the group\b", r"\bunsubscribe\b", r"\b(?:stop|end) my membership\b",
    r"\bno longer (?:be a member|participate)\b", r"\bi'?d like to withdraw\b",
    r"\bwould like to withdraw\b",
]
# Mail about our own mail (a password or receipt mail that never came) is not feedback on
# the city's service, however much it sounds like a symptom ("안 왔어요").
OWN_MAIL = [r"(?:(?:비밀번호|비번)\s?메일|압축\s?(?:파일\s?)?(?:비밀번호|비번)|영수증|메일|설치\s?파일|답장|"
            r"답변|회신|연락).{0,30}?(?:안\s?(?:와|왔|옵)|못\s?받|지워|지웠|날아|잃어|없어|없네|없습)",
            r"(?:password\s?(?:e-?mail|mail)|receipts?\b|\bmail\b|installer|\brepl(?:y|ies)\b|\banswer|"
            r"\bconfirmation).{0,30}?(?:never|not received|didn'?t (?:get|receive)|lost|"
            # ("no message, no receipt, no transaction hash" after a vote lists what the
            # service did not show)
            r"\bno\b(?!\s(?:transaction|message|hash|confirmation|receipt)))"]

_HANGUL = re.compile(r"[가-힣ㄱ-ㅣ]")
_LATIN = re.compile(r"[a-z]")
_ESCAPE = re.compile(r"\\[a-zA-Z]")


# --- a cheap first-character filter --------------------------------------------------------
#
# Python's regex engine tries every alternative of a long alternation at every position of
# the sentence. Most positions cannot start any of them: a lookahead for the characters a
# match can start with rejects those positions with one set test (much cheaper on a long
# review; see the README's performance section) and changes no match. The set is read from the parsed pattern; a pattern
# whose first character cannot be listed (\w, ".", a negated class) gets no filter.

try:
    from re import _constants as _sre, _parser as _sre_parser
except ImportError:         # pragma: no cover - the private modules moved; no filter then
    _sre = _sre_parser = None

_SPACES = frozenset(chr(i) for i in range(0x3001) if chr(i).isspace())
_digits: set[str] = set()


def _first_of_sequence(items) -> tuple[set[str] | None, bool]:
    """(characters a match of these items can start with or None if unknown, can be empty)"""
    chars: set[str] = set()
    for op, av in items:
        found, empty = _first_of_item(op, av)
        if found is None:
            return None, False
        chars |= found
        if not empty:
            return chars, False
    return chars, True


def _first_of_class(av) -> set[str] | None:
    chars: set[str] = set()
    for op, arg in av:
        if op is _sre.LITERAL:
            chars.add(chr(arg))
        elif op is _sre.RANGE and arg[1] - arg[0] < 20000:
            chars.update(map(chr, range(arg[0], arg[1] + 1)))
        elif op is _sre.CATEGORY and arg in (_sre.CATEGORY_SPACE, _sre.CATEGORY_UNI_SPACE):
            chars |= _SPACES
        elif op is _sre.CATEGORY and arg in (_sre.CATEGORY_DIGIT, _sre.CATEGORY_UNI_DIGIT):
            if not _digits:
                _digits.update(chr(i) for i in range(0x20000) if chr(i).isdecimal())
            chars |= _digits
        else:
            return None
    return chars


def _first_of_item(op, av) -> tuple[set[str] | None, bool]:
    if op is _sre.LITERAL:
        return {chr(av)}, False
    if op is _sre.IN:
        return _first_of_class(av), False
    if op is _sre.BRANCH:
        chars: set[str] = set()
        empty = False
        for alternative in av[1]:
            found, can_be_empty = _first_of_sequence(alternative.data)
            if found is None:
                return None, False
            chars |= found
            empty = empty or can_be_empty
        return chars, empty
    if op is _sre.SUBPATTERN:
        return _first_of_sequence(av[3].data)
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
        found, empty = _first_of_sequence(av[2].data)
        return found, empty or av[0] == 0
    if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):     # zero width: look further
        return set(), True
    return None, False


_WIDE = 2000      # a first-character set larger than this filters nothing useful


def _alternatives(items) -> list:
    """The top-level alternatives of a parsed pattern, groups and nested '|' opened."""
    if len(items) == 1 and items[0][0] is _sre.SUBPATTERN:
        return _alternatives(list(items[0][1][3].data))
    if len(items) == 1 and items[0][0] is _sre.BRANCH:
        return [alt for branch in items[0][1][1] for alt in _alternatives(list(branch.data))]
    return [items]


def _class_text(chars: set[str]) -> str:
    """A character class for the set, runs written as ranges ("[가-힣]")."""
    codes = sorted(map(ord, chars))
    parts, start = [], 0
    for i in range(1, len(codes) + 1):
        if i == len(codes) or codes[i] != codes[i - 1] + 1:
            first, last = chr(codes[start]), chr(codes[i - 1])
            parts.append(re.escape(first) if first == last
                         else f"{re.escape(first)}-{re.escape(last)}")
            start = i
    return "[" + "".join(parts) + "]"


def _start_filter(items) -> str | None:
    """A lookahead branch for what one alternative can start with: its first characters, or
    for "[가-힣](?:면|…)" (any syllable, then a few) its first two."""
    found, empty = _first_of_sequence(items)
    if found is None or empty:
        return None
    if len(found) <= _WIDE:
        return _class_text(found)
    op = items[0][0]
    if op is not _sre.IN and op is not _sre.LITERAL:
        return None
    second, empty = _first_of_sequence(items[1:])
    if second is None or empty or len(second) > _WIDE:
        return None
    return _class_text(found) + _class_text(second)


def _with_first_filter(pattern: str) -> str:
    if _sre is None:
        return pattern
    narrow: set[str] = set()
    pairs: list[str] = []
    for items in _alternatives(list(_sre_parser.parse(pattern).data)):
        start = _start_filter(items)
        if start is None:
            return pattern
        if start.count("[") == 1 and start.startswith("["):
            found, _ = _first_of_sequence(items)
            narrow |= found
        else:
            pairs.append(start)
    branches = ([_class_text(narrow)] if narrow else []) + list(dict.fromkeys(pairs))
    return f"(?={'|'.join(branches)})(?:{pattern})"


def _compile(pattern: str) -> re.Pattern:
    return re.compile(_with_first_filter(pattern))


class _Form:
    """One list of patterns, searched as up to three regular expressions: the Korean
    patterns only in sentences with Hangul, the English ones only in sentences with Latin
    letters (most sentences have one script; one alternation per script is much cheaper
    than one over both). Text is casefolded, so no re.I."""

    def __init__(self, patterns: list[str]):
        groups: dict[str, list[str]] = {"ko": [], "en": [], "any": []}
        for p in patterns:
            bare = _ESCAPE.sub("", p)
            ko, en = bool(_HANGUL.search(bare)), bool(_LATIN.search(bare))
            groups["ko" if ko and not en else "en" if en and not ko else "any"].append(p)
        self.ko, self.en, self.any = (
            re.compile(_with_first_filter("|".join(f"(?:{p})" for p in ps)), re.M) if ps else None
            for ps in (groups["ko"], groups["en"], groups["any"]))
        # The regular expressions to try for each (has Hangul, has Latin) of a sentence.
        self.by_script = {
            (has_ko, has_en): tuple(r for r, wanted in ((self.ko, has_ko), (self.en, has_en),
                                                       (self.any, True))
                                    if r is not None and wanted)
            for has_ko in (False, True) for has_en in (False, True)}

    def search(self, sentence: str, script: tuple[bool, bool]) -> re.Match | None:
        for regex in self.by_script[script]:
            m = regex.search(sentence)
            if m:
                return m
        return None


def _script(sentence: str) -> tuple[bool, bool]:
    return bool(_HANGUL.search(sentence)), bool(_LATIN.search(sentence))


_QUESTION, _INFO, _SYMPTOM, _WISH = map(_Form, (QUESTION, INFO_QUESTION, SYMPTOM, WISH))
_IDEA, _CITY, _APP, _THANKS, _LEAVE, _OWN_MAIL = map(_Form, (IDEA, CITY, APP, THANKS,
                                                             LEAVE, OWN_MAIL))
_WEAK_SYMPTOM = _Form(WEAK_SYMPTOM)
# "저는 써보니까 아무 문제가 없어서…", "works fine for me": a fault denied is no report.
_NO_FAULT = _compile(r"(?:아무|별|전혀)\s?(?:문제|이상|오류|에러)(?:가|도|는|이|은)?\s?(?:없|안\s?(?:나|생기))|"
                     r"(?:문제|이상|오류|에러)(?:가|는|도)?\s?(?:없었|없어서|없더|없네|없습|없는데)|문제\s?없이|"
                     r"\bno (?:problems?|issues?)\b|\bworks? (?:fine|perfectly)\b|"
                     r"\b(?:haven'?t|never|didn'?t) (?:had|have|run into|seen) any (?:problems?|issues?|trouble)\b|"
                     r"한\s?번도\s?(?:그런\s?(?:적|일)|문제)")
_SECONDHAND = _compile(r"(?:다고|(?<!달)라고|냐고)\s?(?:묻|물어|하시더라|하시네|하시던데|하셨|하셔서|그러시|그러셨|"
                       r"하더라|하던데|그러더|그러던|들었|(?:말|얘기|이야기|소문)(?:들)?(?:이|을|도)?\s?(?:많|있|하|돌|들))|"
                       r"들으니|듣기로는|듣자니|"
                       r"\b(?:he|she|they) said\b|\b(?:my|a) (?:mom|mother|dad|father|friend|neighbou?r|colleague|coworker|sister|brother)"
                       r"\b[^.?!]{0,40}\b(?:says|said|told me|mentioned)\b|\bi heard (?:that )?\b")
# A difficulty the member has got over: "처음엔 글씨가 안보여서 애먹었는데 지금은 제법 익숙해져서…"
_RESOLVED = _compile(r"(?:더니|하니까|하니)\s[^.?!]{0,30}?잘\s?(?:됩니다|돼요|되네요|되요|됐어요|되었습니다)|"
                     r"처음(?:엔|에는|에)\s.{0,80}?(?:지금은|이제는|이젠|요즘은)\s?(?:제법\s|좀\s|많이\s|꽤\s|다\s)?"
                     r"(?:익숙|괜찮|적응|능숙|편하|편해|잘\s?(?:써|쓰|하|해))(?![가-힣\s]{0,6}(?:안\s|못\s|않))|"
                     r"\bat first\b.{0,80}\bnow (?:i'?m|it'?s) (?:used to|fine|ok|comfortable)\b")
# The member met it too, or set it off ("등본을 은행에 제출했는데 … 검증 실패로 나온다고 하셨습니다").
_FIRSTHAND = _compile(r"제출했는데|제출하니|제출했더니|보여\s?드렸(?:는데|더니)|\bi (?:submitted|showed|handed)\b|"
                      r"저도|나도|저 역시|제\s?(?:폰|휴대폰|핸드폰)|\bme too\b|\bi also\b|\bmine\b|\bsame here\b")
_CONTRAST = _compile(r"는데|은데|지만|그런데|근데|다만|\bbut\b|\bexcept\b|\bonly\b")
_NOT_KNOWING = _compile(r"모르겠|어디\s?있는지|찾을\s?수|\bcan'?t find\b")
_GRATITUDE = _Form(GRATITUDE)
_RETRACT = _Form(RETRACT)
_REPORTED = _Form(REPORTED)
_PRAISE = _compile(r"뿌듯|흐뭇|행복하|다행이|기쁘|기뻐|반가|즐거|재밌|재미있|신기하|좋았|"
                     r"(?:좋|편하|편리하|괜찮|깔끔하|만족스럽|훌륭하|빠르)(?:네요|아요|어요|습니다|더라고요|더군요|군요|다)"
                     r"|편리해요|만족합니다|최고(?:예요|에요|입니다|네요)|잘\s?(?:되네요|돼요|됩니다|쓰고\s?있|쓰십니다|쓰세요)|"
                     r"좋아졌|안심이\s?(?:되|돼)|(?:편해|편리해|간편해)(?:요|서|졌)|"
                     r"\b(?:works (?:great|well|fine|nicely|perfectly)|love (?:it|the)|really (?:nice|good|easy)|"
                     r"easy to use|much better|(?:really |very )?well done|nice work|great (?:work|job)|"
                     r"exactly what (?:i|we) needed|(?:worked|works) (?:on|the) first try|impressed|"
                     r"(?:is|was|has been|have been|are|looks?) (?:really |so |super |just )?"
                     r"(?:great|brilliant|awesome|amazing|fantastic|excellent|convenient|smooth|perfect)|"
                     r"super (?:convenient|easy|fast|smooth)|keep it up|just wanted to say|saved me|"
                     r"deserves? (?:a|an)|(?:brilliant|awesome|amazing|fantastic) (?:work|job|app|update))\b")
_BUT_OR_NOT = _compile(r"안\s(?![가-힣]{1,6}도\s?(?:돼|되))|안되|안돼|못\s|않|없|불편|오류|에러|버그|근데|그런데|지만|는데|은데|ㄴ데|인데|다만|"
                         r"좋겠|좋을|주세요|했으면|"
                         r"\bbut\b|\bnot\b|n't\b|\bexcept\b|\bhowever\b|\bshould\b|\bplease\b")
# Before the praise, "…쓰고 있는데 편하네요" only sets the scene: a "but" or a fault word
# still counts there, "…는데" does not.
_BUT_BEFORE = _compile(r"안\s|안되|안돼|못\s|않|없|불편|오류|에러|버그|근데|그런데|지만|다만|"
                       r"\bbut\b|\bnot\b|n't\b|\bexcept\b|\bhowever\b")
_NEWS = _compile(r"기사(?:가|를|에|네요|예요|입니다|\s?(?:링크|공유))|뉴스(?:에|를|가|에서|\s?보니)|보도(?:가|를|에|자료|됐|되었)|언론|"
                   r"\barticles?\b|\bin the news\b|\bnews (?:today|that|about|article)\b")
# The member's own proposing words, which make reported news the ground of their idea.
_OWN_PROPOSING = _compile(r"제안|건의|어떨|어때|좋겠|좋을|했으면|\bpropos|\bsuggest|\bhow about\b|"
                            r"\bwhat if\b|\bshould\b|\bwe could\b|\bi wonder if\b|\b(?:the city|seoul) (?:could|can)\b")
_LEAVE_IF = _compile(r"(?:탈퇴|그만\s?두|해촉|사퇴|사임|중단)(?:하|되|를\s?하|을\s?하)?(?:면|게\s?되면|할\s?경우|시\s)|"
                     r"\bif (?:i|we|someone|a member) (?:leave|leaves|quit|quits|resign|resigns|withdraw)")
# A city office named in a complaint ("구청 홈페이지 답변이 너무 늦어서"): the city's service as it
# is, not the beta service; beside an idea it is the status quo the idea would change.
_CITY_OFFICE = _compile(r"구청|시청|주민센터|동사무소|민원|공무원|관공서|\bcity hall\b|\bdistrict office\b")
# A complaint asked as a question: "…문제 아닌가요?", "isn't this a privacy problem?"
_RHETORICAL = _compile(r"(?:문제|위험|잘못|이상한\s?거|말이\s?안\s?되는\s?거)\s?(?:아닌가요|아닌지요|아닐까요|아니에요|아닙니까)|"
                       r"\bisn'?t (?:this|that|it) (?:a |an )?(?:\w+ )?(?:problem|risk|bug|wrong)\b")
# The app as the means of a new service ("앱으로 신고하고", "지갑앱에서 예약하고").
_APP_AS_MEANS = _compile(r"(?:앱|어플|지갑\s?앱)(?:으로|을\s?통해|로)\s|\b(?:through|via|in) the app\b")
# A question to everyone on the list ("다들 보셨나요?"): chatter, not a question for staff.
_SOCIAL_QUESTION = _compile(r"(?:^|\s)(?:다들|여러분|모두들?)\s[^?？]{0,30}?(?:셨나요|하셨|보셨|어떠셨|드셨)|"
                            r"\b(?:did|have) (?:you all|everyone)\b")
# Sentences that want no answer from staff: asking everyone's opinion ("다들 어떻게
# 생각하시는지 궁금하네요"), or asking to hear when something is done ("고쳐지면 알려주세요~").
_NO_ANSWER_WANTED = _compile(
    r"(?:다들|여러분|모두들?|회원님들|단원님들|다른\s?분들)[은는도]?\s?어떻게\s?생각하(?:시는지|세요|시나요|십니까)|"
    r"\bwhat do (?:you all|others|people|you guys|everyone) think\b|"
    r"(?:고쳐지면|수정되면|해결되면|반영되면|업데이트되면|나오면)\s?(?:꼭\s?)?(?:알려|연락)|"
    r"\blet (?:me|us) know when (?:it'?s|it is) (?:fixed|done|out|ready)\b")
_WHY = _compile(r"왜|\bwhy\b")
_REPORT_CLAUSE = re.compile(r"(.{6,}?)(?:는데|은데|ㄴ데|인데)[,\s]")
_STRONG_IDEA = _compile(r"제안|건의|아이디어|도입|어떨|어때|어떠|정책|같은\s?(?:방식|식)으로|이렇게|생각났|떠올랐|"
                          r"이런\s?(?:식|방식)으로|\bpropos|\bsuggest|\bidea|\bhow about\b|"
                          r"\bwhat if\b|블록체인|전자화|디지털화|"
                          r"(?:전자|디지털|모바일)\s?(?:증명서|문서|등록증|신분증|서류)(?:으로|로)\s?(?:발급|만들|바꾸|전환|대체)")
_CHATTER = _Form(CHATTER)
_EXPLICIT_THANKS = _compile(r"감사|고맙|고마워|\bthank")
_IDEA_QUESTION = _compile(r"\bwhy (?:don'?t|not) we\b|어떨까|어떨지|어때요|어떤가요|어떻겠\s?(?:습니까|어요|나요)|않을까|면\s?안\s?될까|\bhow about\b|\bwhat if\b|"
                            r"\b(?:would|could) it be possible for (?:the city|seoul|the government|districts?|us)\b|"
                            r"\bwhy not\b|\bwouldn'?t it be\b|"
                            # (not "whom should we contact?", which asks)
                            r"(?<!whom )(?<!who )(?<!where )(?<!what )(?<!how )(?<!when )"
                            r"\b(?:could|should) (?:the city|seoul|we)\b|"
                            # "I wonder if the city could …", "would the group be open to a proposal?"
                            r"\bi wonder if (?:the city|seoul|we|the group|the government|districts?)\b|"
                            r"\bopen to (?:a |an |my |some )?(?:proposals?|suggestions?|ideas?)\b|"
                            r"제안(?:을)?\s?(?:해도|드려도)\s?(?:될까|되나|되는지|괜찮)")
# "Maybe keep it a bit longer?": a suggestion in question form, a wish.
_SUGGESTION_QUESTION = _compile(r"^(?:maybe|perhaps)\b|^혹시\s.{0,40}?(?:하면|해\s?주시면)\s?어떨|"
                                  r"(?:미리|먼저|화면에|앱에서)\s?(?:알려|안내해|표시해)|"
                                  r"(?:같은\s?(?:건|게|기능)|기능|설정)(?:은|이|도)?\s?없나요")
# "사진 올리면 옆으로 누워서 올라가요", "통화 끝나고 돌아왔을 때 하얀 화면만 나옵니다": when the member
# does something, this happens. Speculation ("…하면 … 것 같아요") is an idea's form, not this.
_REPRODUCTION = _compile(r"[가-힣](?:면|니까|니|더니|을\s?때|ㄹ\s?때)\s[^.?!]{0,60}?(?:요|니다|네요|음|옴|임|됨|짐|뜸|나옴)"
                           r"[.!~ㅠㅜ]*$")
# A goodbye denied: "당장 그만두려는 건 아니고 궁금해서요".
_NOT_LEAVING = _compile(r"(?:려는|려고\s?하는|겠다는|하려는)\s?(?:건|것은|게|것이)\s?아니|"
                        r"\bnot (?:quitting|leaving)\b")
# Asking staff to check, or not making sense of what the app shows ("이렇게만 나와서 무슨 뜻인지
# 모르겠어요"): after a symptom in the same sentence, the sentence reports.
_CHECK_REQUEST = re.compile(r"확인|(?:는지|을지|ㄹ지|인지)\s?모르겠")
_SPECULATION = _compile(r"것\s?같|좋겠|좋을|수\s?있|(?:하|있|되|같|편하|빠르|쉽)겠|면\s?합니다|했으면|주세요|주시|바랍니다|어떨|"
                          r"세요|십시오|시면|드릴게|드리겠|려고요|려고\s?합니다|려구요|겠습니다|겠어요|볼게요|볼께요|할게요|할께요")


CUE_CHARS = 14


@dataclass
class Intents:
    """Sentence counts by intent, and the cue words that made each."""
    sentences: int = 0
    feedback: int = 0
    app_feedback: int = 0       # feedback sentences that name a part of the service
    weak_feedback: int = 0      # of which only a weak sign (an absence, "…하니 …요") told it
    weak_app_feedback: int = 0  # weak ones that name a part of the service
    not_knowing: int = 0        # weak ones that only say the member cannot find or does not know
    retract: int = 0            # sentences taking back an earlier mail
    idea: int = 0
    question: int = 0
    info_question: int = 0
    wish_question: int = 0      # questions that ask for a change ("Could it be raised?")
    thanks: int = 0
    leave: int = 0
    cues: dict[str, list[str]] = field(default_factory=dict)

    def cue(self, name: str, match: re.Match | None) -> None:
        if match is None:
            return
        words = self.cues.setdefault(name, [])
        word = " ".join(match.group().split()).rstrip(" .,!?")
        if len(word) > CUE_CHARS:      # a long form ("…하면 … 것 같") is named by its start
            word = word[:CUE_CHARS] + "..."
        if word and word not in words and len(words) < 4:
            words.append(word)

    def named(self, name: str, limit: int = 3) -> str:
        words = self.cues.get(name, [])[:limit]
        return ", ".join(words)

    names_service: bool = False    # some sentence names a part of the service

    @property
    def service_content(self) -> int:
        """What a credit can rest on: ideas, and reports in a mail that names the service."""
        return self.idea + (self.feedback if self.names_service else 0)

    @property
    def content(self) -> int:
        return self.feedback + self.idea

    @property
    def feedback_weight(self) -> float:
        """Feedback that names a part of the service weighs fully; a complaint about
        something else (the status quo an idea would change) half, and so does a weak sign
        ("…할 때마다", "…없어서") even about the service."""
        return (self.app_feedback - 0.5 * self.weak_app_feedback
                + 0.5 * (self.feedback - self.app_feedback))


# (a run of laughter or tears ends a chat sentence: "두번 찍힘 ㅋㅋㅋ 기록이 두개 떠요 ㅠ 이거
# 버그 맞죠?" reports before it asks)
_SENTENCE_END = re.compile(r"(?<=[.!?？。~^])\s+|(?<=[다요]~)(?=[가-힣])|(?<=[가-힣])\s+(?=혹시\s)|"
                           r"(?<=[a-z가-힣]):\s+|(?<=[ㅋㅎᄏᄒ][ㅋㅎᄏᄒ])\s+|(?<=[ㅠㅜᅲᅮ])\s+")


def statements(text: str) -> str:
    """The text without its question sentences ("회의에 불참하면 불이익이 있나요?" answers
    no invitation)."""
    kept = []
    for sentence in sentences(text):
        if not _QUESTION.search(sentence, _script(sentence)):
            kept.append(sentence)
    return "\n".join(kept)


def sentences(text: str) -> list[str]:
    parts = []
    for line in text.split("\n"):
        for piece in _SENTENCE_END.split(line):
            piece = piece.strip(" \t-*•·>")
            if piece:
                parts.append(piece)
    return parts


def ends_asking_to_leave(text: str) -> bool:
    """The mail's last words (of its last two sentences of some length: not the sign-off)
    ask to leave: "…still crashes the same way. Please remove me from the group." The
    complaints before such a goodbye are its why."""
    closing = [s for s in sentences(text) if len(s) >= 12][-2:]
    return any(_LEAVE.search(s, _script(s)) and not _LEAVE_IF.search(s) for s in closing)


def read_intents(text: str, max_sentences: int = 80) -> Intents:
    """Intent counts of casefolded member text.

    Each sentence is searched only for the forms its decision still needs (most sentences
    are decided by the first few), which keeps a long review cheap."""
    found = Intents()
    last = ""          # the intent of the last report or idea sentence
    undecided = 0      # wishes about the app that name the city's side too
    parts = sentences(text)[:max_sentences]
    app_seen: list[bool | None] = [None] * len(parts)   # names a part of the service?
    for index, sentence in enumerate(parts):
        found.sentences += 1
        script = _script(sentence)

        def names_app() -> bool:
            known = app_seen[index]
            if known is None:
                known = app_seen[index] = _APP.search(sentence, script) is not None
            return known

        leave = _LEAVE.search(sentence, script)
        if leave and _NOT_LEAVING.search(sentence):
            # "당장 그만두려는 건 아니고 궁금해서요"
            leave = None
        if leave and _LEAVE_IF.search(sentence) and _QUESTION.search(sentence, script):
            # "탈퇴하면 봉사시간도 없어지나요?": asks what leaving would do, does not leave.
            leave = None
        if leave:
            found.leave += 1
            found.cue("leave", leave)
            continue
        retract = _RETRACT.search(sentence, script)
        if retract:
            found.retract += 1
            found.thanks += 1
            found.cue("thanks", retract)
            continue
        gratitude = _GRATITUDE.search(sentence, script)
        if gratitude and not _QUESTION.search(sentence, script):
            found.thanks += 1
            found.cue("thanks", gratitude)
            continue
        own_mail = _OWN_MAIL.search(sentence, script)
        idea_question = _IDEA_QUESTION.search(sentence)
        suggestion = _SUGGESTION_QUESTION.search(sentence)
        question = (None if idea_question or suggestion
                    else _QUESTION.search(sentence, script))
        if question and _WHY.search(sentence) and _SYMPTOM.search(sentence, script):
            # "이름이 왜 다 '알 수 없음'으로 나오나요?": a complaint in question form.
            question = None
        if question and last == "feedback" and _RHETORICAL.search(sentence):
            # "…노출돼요. 개인정보 문제 아닌가요?": after a report, a complaint asked.
            question = None
            found.feedback += 1
            found.app_feedback += names_app()
            found.cue("feedback", _RHETORICAL.search(sentence))
            continue
        if question and not own_mail and (_NO_ANSWER_WANTED.search(sentence) or (
                _SOCIAL_QUESTION.search(sentence) and not _INFO.search(sentence, script))):
            found.thanks += 1
            found.cue("thanks", question)
            continue
        if question or own_mail:
            # The member asks: topic words in a question are not a report.
            found.question += 1
            found.cue("question", question or own_mail)
            # (every "…는데" clause has 데: a sentence without it skips the slow match)
            report = "데" in sentence and _REPORT_CLAUSE.match(sentence)
            symptom = (report and not own_mail
                       and _SYMPTOM.search(report.group(1), script))
            if not symptom and not own_mail and question and _CHECK_REQUEST.search(question.group()):
                # "로그인하면 계속 튕겨요 어제부터 그럼 확인좀요" typed as one line: what it
                # asks is that staff look at the report before it.
                symptom = _SYMPTOM.search(sentence[:question.start()], script)
            if symptom:
                # "송금 누르면 '알 수 없는 오류' 나오는데 저만 그런가요?": the report before
                # "…는데" stands, whatever the question after it.
                found.feedback += 1
                found.app_feedback += names_app()
                found.cue("feedback", symptom)
                last = "feedback"
            if own_mail or _INFO.search(sentence, script):
                found.info_question += 1
            elif _WISH.search(sentence, script):
                found.wish_question += 1
            continue
        praise = _PRAISE.search(sentence)
        if praise and _IDEA.search(sentence, script) and _SPECULATION.search(sentence):
            # "…순위 보여주면 재밌을 거 같구요": the fun is the idea's, not a thank-you
            praise = None
        if praise and not (_BUT_OR_NOT.search(sentence, praise.start())
                           or _BUT_BEFORE.search(sentence, 0, praise.start())):
            # "써보니까 생각보다 편하고 좋네요": praise with no "but" and no negation reports
            # nothing to fix and asks for nothing.
            found.thanks += 1
            found.cue("thanks", praise)
            continue
        if _NO_FAULT.search(sentence) and not _CONTRAST.search(sentence):
            # ("다른 건 문제없는데 송금만 안 돼요" still reports)
            continue
        if _RESOLVED.search(sentence):
            continue
        symptom = _SYMPTOM.search(sentence, script)
        secondhand = _SECONDHAND.search(sentence)
        if secondhand and not _FIRSTHAND.search(sentence):
            # "어머니가 앱이 자꾸 꺼진다고 하시더라고요": what someone else met, told on;
            # the member did not meet it (a report needs the member's own use).
            found.thanks += 1
            found.cue("thanks", secondhand)
            continue
        reported = _REPORTED.search(sentence, script)
        news = None if reported and not symptom else _NEWS.search(sentence)
        if ((reported or news) and not _OWN_PROPOSING.search(sentence)
                and (not symptom or (news and reported))):
            # Hearsay about the service ("결제가 안 됐다고 하네요") still reports a symptom;
            # a news item ("saw this in the news: the city is expanding …") is passed on.
            found.thanks += 1
            found.cue("thanks", reported or news)
            continue
        weak = False
        if symptom is None and names_app():
            symptom = _WEAK_SYMPTOM.search(sentence, script)
            weak = symptom is not None
            if weak and _NOT_KNOWING.search(symptom.group()):
                # "메뉴를 아무리 찾아도 모르겠어요" beside "어디에 넣나요?" is the asking's own
                # ground, not a report (see classify: it does not outweigh the question).
                found.not_knowing += 1
        if symptom is None and not _SPECULATION.search(sentence) and not praise:
            # "…보니 뿌듯하네요" tells a feeling, not what the service did.
            symptom = _REPRODUCTION.search(sentence)
            weak = symptom is not None
        idea = _IDEA.search(sentence, script)
        wish = None
        city = None
        if idea:
            city = _CITY.search(sentence, script)
            if (not city and not _STRONG_IDEA.search(sentence)
                    and not _APP_AS_MEANS.search(sentence)
                    and (names_app() or last == "feedback")):
                # "큰 글씨 화면을 만들어 주시면": a wish about the app, not a new service;
                # "…종료돼요. 이거 하나만 고쳐주시면 완벽할 것 같아요": a conditional good
                # after a report, naming nothing new, is about what was just reported.
                wish, idea = _WISH.search(sentence, script) or suggestion or idea, None
        if idea and (not symptom or city or weak or idea_question):
            # "교육을 열면 어떨까요?": the "if" of an idea question is hypothetical, not a
            # reproduction. A weak sign ("때마다", "없어서") beside an idea is the status quo
            # it would change.
            found.idea += 1
            found.cue("idea", idea)
            last = "idea"
            continue
        if symptom and weak and wish is None:
            wish = _WISH.search(sentence, script) or suggestion
            if wish and city is None:
                city = _CITY.search(sentence, script)
        if symptom and not (weak and wish and city):
            # (a weak sign beside a wish for the city is what the wish would change: the
            # wish decides)
            found.feedback += 1
            found.app_feedback += names_app() and not _CITY_OFFICE.search(sentence)
            found.weak_feedback += weak
            found.weak_app_feedback += weak and names_app()
            found.cue("feedback", symptom)
            last = "feedback"
            continue
        if wish is None:
            wish = _WISH.search(sentence, script) or suggestion
        if wish:
            # A wish goes with what it is about, or carries on the sentence before it
            # ("…발급하면 편할 것 같아요. 앱에 같이 넣으면 좋겠네요" is still the idea).
            if city is None:
                city = _CITY.search(sentence, script)
            app = names_app()
            if (city and (not app or _STRONG_IDEA.search(sentence)
                          or _APP_AS_MEANS.search(sentence) or _CITY_OFFICE.search(sentence))
                    or last == "idea"):
                # "…QR 찍어서 바로 구청에 들어가게 하면 좋겠어요": a city office's work.
                # "시민이 앱으로 신고하고 … 기록되게 하면 좋겠어요": the app is only the means.
                found.idea += 1
                found.cue("idea", wish)
            elif app or last == "feedback":
                found.feedback += 1
                found.app_feedback += app
                found.cue("feedback", wish)
                # "지역화폐 결제 되게 해 주면 좋겠어요": the city's and the app's at once;
                # an idea elsewhere in the mail decides it (see below).
                undecided += bool(city and app)
            continue
        thanks = _THANKS.search(sentence, script)
        if not (thanks and (len(sentence) <= ACK_SHORT_CHARS
                            or _EXPLICIT_THANKS.search(sentence))):
            thanks = _CHATTER.search(sentence, script)
        if thanks:
            found.thanks += 1
            found.cue("thanks", thanks)
    if undecided and found.idea and found.feedback == undecided:
        # Nothing but such wishes reported, and an idea proposed: they belong to the idea.
        found.idea += undecided
        found.feedback -= undecided
        found.app_feedback -= undecided
    # A sentence never asked whether it names the service is asked now: the mail names
    # the service if any of its sentences does.
    found.names_service = any(
        known if known is not None else _APP.search(part, _script(part)) is not None
        for part, known in zip(parts, app_seen))
    return found
