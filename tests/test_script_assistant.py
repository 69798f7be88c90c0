"""The script assistant's drafts as a creator reads them out: length from the voice's pace, only
speakable text (cleaning and the llama.cpp grammar), no repeats, complete endings, a plan from the
brief, explicit edits shown as changes, and the rubric the bench scores drafts with."""

from __future__ import annotations

import json
import threading

import pytest

from studio.errors import InputError
from studio.script import assistant as asst
from studio.script import cleaning, prompts
from studio.script.markup import WORDS_PER_SECOND, parse_script
from studio.script.revisions import word_diff
from studio.script.rubric import check_draft, names_subject

# ---------------------------------------------------------------------------------------------
# A fake chat model that records what it was asked


class ScriptedLLM:
    """Answers with ``pieces`` one by one; records the settings and whether the answer was closed."""

    name = "scripted"
    description = "scripted test model"

    def __init__(self, pieces, *later_answers):
        self.answers = [list(pieces), *(list(a) for a in later_answers)]
        self.pieces = self.answers[0]
        self.calls: list[dict] = []
        self.sent = 0  # pieces sent in the first answer
        self.closed = threading.Event()

    def chat(self, messages, **settings):
        self.calls.append({"messages": list(messages), **settings})
        first = len(self.calls) == 1
        try:
            for piece in self.answers[min(len(self.calls), len(self.answers)) - 1]:
                self.sent += first
                yield piece
        finally:
            self.closed.set()


@pytest.fixture()
def assistant(tmp_path):
    from studio.config import StudioPaths
    from studio.services import Studio

    return asst.Assistant(Studio(StudioPaths(tmp_path)))


def with_model(assistant, llm) -> asst.ModelChoice:
    choice = asst.ModelChoice(backend="server", url="http://scripted")
    assistant._models[choice] = asst.ChatModel(llm, llm.description)
    return choice


DIFFERENT_SENTENCES = [
    "Spoke and Wheel opens downtown on Saturday.",
    "Our mechanics fix flat tires while you wait.",
    "Brakes get a free safety check all month.",
    "Commuters can book an early morning slot online.",
    "Kids bring their first bikes for a tune-up.",
    "We stock tubes, lights, locks and helmets.",
    "Old frames find new owners through our trade-in shelf.",
    "Electric bikes are welcome in the workshop too.",
    "Every repair comes with a written estimate first.",
    "Coffee is on the house while the work is done.",
    "Students save ten percent with their card.",
    "Come by, say hello and ride away happy.",
]


def words_of(sentence: str, n: int) -> str:
    return " ".join([sentence] * n)


# ---------------------------------------------------------------------------------------------
# Length that fits


def test_word_budget_follows_the_asked_seconds_and_the_voices_pace():
    default = prompts.DraftRequest(topic="x", seconds=20)
    assert default.words == round(20 * WORDS_PER_SECOND)
    faster = prompts.DraftRequest(topic="x", seconds=20, pace=1.15)
    assert faster.words == round(20 * WORDS_PER_SECOND * 1.15) > default.words


def test_a_voice_profiles_measured_rate_sets_the_pace(assistant, tmp_path):
    folder = tmp_path / "voices" / "fast-talker"
    folder.mkdir(parents=True)
    profile = {"name": "fast talker", "created": 1.0, "report": {}, "settings": {"match": {"rate": 1.12}}}
    (folder / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    assert asst.speaking_pace(assistant.studio, "fast talker") == pytest.approx(1.12)
    assert asst.speaking_pace(assistant.studio, None) == 1.0
    assert asst.speaking_pace(assistant.studio, "nobody") == 1.0


def test_trimmer_ends_a_text_cut_mid_sentence_on_its_last_complete_sentence():
    text = "[happy] Welcome to Spoke and Wheel. We fix every bike in a day. Our maintenance team is"
    assert cleaning.trim_to_budget(text, 100) == "[happy] Welcome to Spoke and Wheel. We fix every bike in a day."


@pytest.mark.parametrize(
    "ending", ["Our maintenance team is.", "Fresh bread and.", "Come and see the.", "We offer sourdough every."]
)
def test_trimmer_drops_a_last_sentence_that_dangles(ending):
    text = f"Welcome to Sunny Bread. We bake every morning. {ending}"
    assert cleaning.trim_to_budget(text, 100) == "Welcome to Sunny Bread. We bake every morning."


def test_trimmer_keeps_the_draft_within_twenty_percent_of_the_budget():
    sentence = "This sentence has exactly eight words in it."
    text = "\n\n".join(words_of(sentence, 3) for _ in range(4))  # 12 sentences, 96 words
    trimmed = cleaning.trim_to_budget(text, 40)
    count = len(cleaning.spoken_words(trimmed))
    assert 32 <= count <= 48 and trimmed.endswith("in it.")
    assert trimmed.count("\n\n") == 1  # whole paragraphs kept as they were


def test_stream_stops_on_the_budget_at_a_sentence_end_and_closes_the_model(assistant):
    llm = ScriptedLLM([w + " " for w in " ".join(DIFFERENT_SENTENCES).split(" ")])
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel, a bike shop", preset="announcement", seconds=10)
    texts = list(assistant.draft(choice, request))
    raw, finished = texts[-2], texts[-1]
    assert raw.rstrip().endswith(".") and len(cleaning.spoken_words(raw)) >= request.words
    assert llm.sent < len(llm.pieces) and llm.closed.is_set()  # generation stopped, not just hidden
    assert abs(len(cleaning.spoken_words(finished)) - request.words) <= 0.2 * request.words
    call = llm.calls[0]
    assert call["repeat_penalty"] > 1.0 and "sent ::=" in call["grammar"]


def test_a_sentence_that_repeats_ends_the_answer_and_is_dropped(assistant):
    pieces = ["[happy] Spoke and Wheel opens downtown.", " We fix bikes fast.", " We fix bikes fast."]
    pieces += [" More words that never come."] * 20
    llm = ScriptedLLM(pieces)
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel", seconds=30)
    *_, finished = assistant.draft(choice, request)
    assert llm.sent == 3
    assert finished == "[happy] Spoke and Wheel opens downtown. We fix bikes fast."


def test_a_draft_that_ends_short_is_asked_to_go_on(assistant):
    first = "[happy] " + " ".join(DIFFERENT_SENTENCES[:3])
    more = "[neutral] " + " ".join(DIFFERENT_SENTENCES[3:])
    llm = ScriptedLLM([first], [more])
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel", preset="announcement", seconds=15)
    *_, finished = assistant.draft(choice, request)
    assert len(llm.calls) == 2
    asked = llm.calls[1]["messages"]
    assert asked[-2] == {"role": "assistant", "content": first} and "Continue the script" in asked[-1]["content"]
    assert finished.startswith(first + "\n\n[neutral] Commuters can book")
    assert abs(len(cleaning.spoken_words(finished)) - request.words) <= 0.2 * request.words


# ---------------------------------------------------------------------------------------------
# Only speakable text


def test_stage_directions_labels_and_stray_tags_are_not_spoken():
    answer = (
        "Opening scene: a sunny street, the shop door opens.\n"
        "[hook] Narrator: Are you tired of flat tires?\n"
        "Audience: Yes!\n"
        '"Spoke and Wheel fixes any bike in a day." (camera zooms in)\n'
        "Hook - Come by this weekend! **Free** checks 🚲\n"
        "[excited 0.5] See you soon!"
    )
    cleaned = cleaning.clean_script(answer)
    assert cleaned == (
        "Are you tired of flat tires?\nSpoke and Wheel fixes any bike in a day.\n"
        "Come by this weekend! Free checks.\n[happy 0.5] See you soon!"
    )
    assert check_draft(cleaned, seconds=7, subject="Spoke and Wheel").problems == []


def test_refusals_and_the_plans_own_instructions_are_not_spoken():
    answer = (
        "[happy] Harbor Yoga moves to Main Street. What should the listener do next? "
        "Ask viewers to follow or comment. See you there!"
    )
    assert cleaning.clean_script(answer) == "[happy] Harbor Yoga moves to Main Street. See you there!"
    refusal = "I'm sorry, but I don't have enough information. Could you please provide more details?"
    assert cleaning.finish_draft(refusal, words=20) == ""


def test_a_draft_the_model_refused_is_asked_for_afresh(assistant):
    refusal = ["[neutral] I'm sorry, but I cannot write that. Could you please provide more details?"]
    good = ["[happy] " + " ".join(DIFFERENT_SENTENCES[:6])]
    llm = ScriptedLLM(refusal, good)
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel", preset="announcement", seconds=12)
    *_, finished = assistant.draft(choice, request)
    assert llm.calls[1]["messages"] == llm.calls[0]["messages"]  # the same request again, not "go on"
    assert finished.startswith("[happy] Spoke and Wheel opens downtown") and "sorry" not in finished


def test_intensity_tags_are_known_tags_and_others_are_not():
    assert cleaning.is_known_tag("happy 0.5") and cleaning.is_known_tag("sad") and cleaning.is_known_tag("pause 1s")
    assert not cleaning.is_known_tag("hook") and not cleaning.is_known_tag("music")
    assert cleaning.clean_script("[Happy 1.5] Hi there friends.", keep_tags=True) == "[happy 1.5] Hi there friends."


def test_empty_name_slots_get_the_briefs_name_or_go():
    answer = "Welcome to [Shop Name], the best bakery in town. Visit , the corner shop. Bread is great."
    assert cleaning.clean_script(answer, subject="Sunny Bread") == (
        "Welcome to Sunny Bread, the best bakery in town. Visit Sunny Bread, the corner shop. Bread is great."
    )
    assert cleaning.clean_script(answer) == "Bread is great."


def test_repeated_sentences_are_dropped_after_their_first_time():
    text = "[happy] We fix bikes. Fast and cheap, always.\n\nWe fix bikes! See you soon."
    assert cleaning.drop_repeats(text) == "[happy] We fix bikes. Fast and cheap, always.\n\nSee you soon."


def test_cleaning_a_finished_draft_again_changes_nothing():
    answer = "Sure! Here is your script:\n\n[Excited] Meet Sunny Bread! Narrator: fresh loaves daily.\n\nBye now."
    once = cleaning.finish_draft(answer, words=20, subject="Sunny Bread")
    assert once == "[happy] Meet Sunny Bread! Fresh loaves daily.\n\nBye now."
    assert cleaning.finish_draft(once, words=20, subject="Sunny Bread") == once


def _grammar_run(grammar: str | None) -> str:
    from engines.llm import llama_cpp
    from studio import models
    from studio.config import StudioPaths

    path = models.resolve(asst.BUILT_IN_LLM, StudioPaths.from_env()) / asst.BUILT_IN_GGUF
    llm = _grammar_run.llm = getattr(_grammar_run, "llm", None) or llama_cpp.LlamaCppLLM(path, seed=1)
    messages = [
        {"role": "system", "content": "You write film screenplays with scene headings and speaker names."},
        {"role": "user", "content": "Write the screenplay's first lines: OPENING SCENE: (music) NARRATOR: ..."},
    ]
    return "".join(llm.chat(messages, temperature=0.0, max_tokens=30, grammar=grammar))


@pytest.mark.skipif(
    not __import__("test_llm")._builtin_ready(), reason="llama-cpp-python or the bundled GGUF is not installed"
)
def test_grammar_keeps_the_built_in_model_from_writing_stage_directions():
    free = _grammar_run(None)
    assert ":" in free or "(" in free  # asked for a screenplay, the model writes labels and directions
    constrained = _grammar_run(prompts.speakable_grammar(tags=True))
    assert constrained and not any(c in constrained for c in ':()*#"')
    first = parse_script(constrained).sentences[0]
    assert constrained.startswith("[") and first.emotion in ("neutral", "happy", "sad", "angry", "surprised")


def test_drafts_may_only_use_the_moods_that_suit_their_tone():
    calm = prompts.DraftRequest(topic="x", tone="calm")
    assert prompts.draft_emotions(calm) == ["neutral", "happy"]
    urgent = prompts.draft_emotions(prompts.DraftRequest(topic="x", tone="urgent"))
    assert urgent == ["surprised", "neutral", "happy"]
    grammar = prompts.speakable_grammar(True, emotions=urgent)
    assert '"surprised"' in grammar and '"angry"' not in grammar and '"sad"' not in grammar


def test_grammar_is_only_used_where_it_knows_the_alphabet():
    assert prompts.speakable_grammar(tags=False, language="German") is not None
    assert "tag ::=" not in prompts.speakable_grammar(tags=False)
    assert prompts.speakable_grammar(tags=True, language="Japanese") is None


# ---------------------------------------------------------------------------------------------
# Plan, then write


def test_the_plan_uses_the_briefs_name_points_and_the_presets_call_to_action():
    request = prompts.DraftRequest(
        topic="GreenRide, an electric city bike", preset="social-short", key_points="40 km range\nfolds in 5 s"
    )
    assert request.subject == "GreenRide"
    plan = prompts.outline(request)
    assert "GreenRide" in plan[0]
    assert plan[1:3] == ["40 km range", "folds in 5 s"]
    assert plan[-1].startswith("the call to action, such as: Follow for more")
    # without points, the preset's own: two for a short script, three for a long one
    bare = prompts.outline(prompts.DraftRequest(topic="GreenRide", preset="product-intro", seconds=20))
    assert len(bare) == 4 and all("{" not in step for step in bare)
    assert len(prompts.outline(prompts.DraftRequest(topic="GreenRide", preset="product-intro", seconds=60))) == 5
    # the steps describe, they do not order: a small model reads orders out as script lines
    assert not any(step.split()[0] in ("Open", "Give", "Say", "End", "Hook:", "Point:") for step in plan)


def test_subject_is_the_name_before_the_description():
    assert prompts.subject_of("Sunny Bread, our new neighbourhood bakery") == "Sunny Bread"
    assert prompts.subject_of("Harbor Yoga - a studio by the sea") == "Harbor Yoga"
    plain = "a new bicycle repair shop opening downtown"
    assert prompts.subject_of(plain) == plain


# ---------------------------------------------------------------------------------------------
# Editing the user's script


def test_an_edit_sends_the_whole_script_and_the_instruction_and_answers_with_the_whole_revision(assistant):
    script = "[happy] Welcome to Sunny Bread. We bake every morning.\n\n[neutral] Come and taste it today."
    revised = "[happy] Welcome to Sunny Bread!\n\n[neutral] Taste it today."
    llm = ScriptedLLM([revised[:20], revised[20:]])
    choice = with_model(assistant, llm)
    *_, finished = assistant.edit(choice, prompts.EditRequest(script, "shorten"))
    assert finished == revised
    sent = llm.calls[0]["messages"]
    assert sent[-1]["content"].endswith(script) and "shorter" in sent[-1]["content"]
    assert "whole revised script" in sent[0]["content"]


def test_edits_are_refused_in_plain_words_when_they_cannot_work(assistant):
    with pytest.raises(InputError, match="the editor is empty"):
        prompts.EditRequest("  ", "shorten").checked()
    with pytest.raises(InputError, match="type what to change"):
        prompts.EditRequest("Hi there.", "custom").checked()
    with pytest.raises(InputError, match="needs a language model"):
        list(assistant.edit(asst.ModelChoice(backend="template"), prompts.EditRequest("Hi there.", "shorten")))


def test_the_change_is_shown_word_by_word():
    runs = word_diff("[happy] Hello there. Nice day.", "[happy] Hello there, friend. Nice day.")
    assert runs == [("=", "[happy] Hello"), ("-", "there."), ("+", "there, friend."), ("=", "Nice day.")]


# ---------------------------------------------------------------------------------------------
# The rubric


def test_rubric_passes_a_draft_that_can_be_read_out_as_written():
    draft = (
        "[happy] Spoke and Wheel opens downtown this Saturday. We fix flat tires, brakes and gears while you wait.\n\n"
        "[neutral] Bring your bike in and ride out the same day. See you there!"
    )
    result = check_draft(draft, seconds=9, subject="Spoke and Wheel")
    assert result.usable, result.problems


@pytest.mark.parametrize(
    ("draft", "problem"),
    [
        ("[happy] Spoke and Wheel opens downtown. Our maintenance team is.", "ends mid-sentence"),
        ("[happy] Spoke and Wheel opens downtown. We fix bikes. We fix bikes.", "repeated sentence"),
        ("[hook] Spoke and Wheel opens downtown. We fix bikes fast.", "unknown tags"),
        ("Narrator: Spoke and Wheel opens downtown. We fix bikes fast.", "label or stage direction"),
        ("Welcome to , the new shop. Spoke and Wheel fixes bikes.", "empty name slot"),
        ("[happy] A new shop opens downtown. We fix bikes fast.", 'does not name "Spoke and Wheel"'),
        ("[happy] Spoke and Wheel opens downtown. Ask viewers to follow.", "talks about the task"),
        ("[happy] Spoke and Wheel opens downtown. " * 1 + "We fix bikes fast. " * 0, "more than 20 % off"),
    ],
)
def test_rubric_names_what_makes_a_draft_unusable(draft, problem):
    result = check_draft(draft, seconds=3.5 if "off" not in problem else 20, subject="Spoke and Wheel")
    assert not result.usable and any(problem in p for p in result.problems), result.problems


def test_a_plain_description_counts_as_named_by_its_content_words():
    subject = "a new bicycle repair shop opening downtown"
    assert names_subject("Our bicycle repair shop opens downtown on Monday.", subject)
    assert not names_subject("Something exciting is coming soon.", subject)


def test_cli_draft_with_an_unknown_voice_is_one_error_line():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, str(root / "app.py"), "script", "draft", "--topic", "x", "--backend", "template"]
        + ["--voice", "nobody"],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: there is no voice profile named 'nobody': see `python app.py voice list`"
    ]


# ---------------------------------------------------------------------------------------------
# Drafts written step by step along the plan (models that go on from a given start: llama.cpp)


class SteppedLLM:
    """A model that can go on from a given start of its answer (like llama.cpp): ``write(call)``
    returns the text of one answer (the test decides when it ends); records every call."""

    name = "stepped"
    description = "stepped test model"
    continues_answers = True

    def __init__(self, write):
        self.write = write
        self.calls: list[dict] = []

    def chat(self, messages, *, prefill="", seed=None, **settings):
        call = {"messages": list(messages), "prefill": prefill, "seed": seed, **settings}
        self.calls.append(call)
        lead = " " if prefill else ""  # an answer that goes on starts with the space after the last sentence
        for i, word in enumerate(self.write(call).split(" ")):
            yield (lead if i == 0 else " ") + word


def asked(call) -> str:
    return call["messages"][-1]["content"]


def test_a_draft_is_never_too_short_even_when_the_model_stops_after_every_sentence(assistant):
    sentences = iter(DIFFERENT_SENTENCES[1:])

    def one_sentence(call):  # the model ends its answer after one sentence, every time
        if asked(call).startswith("Last part"):
            text = "Come by on Saturday and say hello!"
        elif call["prefill"]:
            text = next(sentences)
        else:
            text = DIFFERENT_SENTENCES[0] if asked(call).startswith("Write") else next(sentences)
        return ("" if call["prefill"] else "[happy] ") + text

    llm = SteppedLLM(one_sentence)
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel, a bike shop", preset="announcement", seconds=20)
    *shown, finished = assistant.draft(choice, request)
    # it grew in sight, and it fills its budget though the model never wrote more than one sentence
    assert len(shown) > 20 and all(b.startswith(a[: len(a) // 2]) for a, b in zip(shown, shown[1:]))
    assert check_draft(finished, seconds=20, subject="Spoke and Wheel").usable, finished
    assert abs(len(cleaning.spoken_words(finished)) - request.words) <= 0.2 * request.words
    # one paragraph per plan step, the call to action last
    assert finished.startswith("[happy] Spoke and Wheel opens downtown on Saturday.")
    assert finished.endswith("\n\n[happy] Come by on Saturday and say hello!")
    # going on inside a step: the same request, the paragraph so far as the start of the answer
    goes_on = [c for c in llm.calls if c["prefill"]]
    assert goes_on and all("gap sent" in c["grammar"].split("\n")[0] for c in goes_on)
    first = llm.calls[0]
    assert first["messages"][0]["role"] == "system" and "Part 1, one sentence:" in asked(first)
    steps = [asked(c) for c in llm.calls if not c["prefill"]]
    assert steps[1].startswith("Next part, ") and steps[-1].startswith("Last part, one sentence: the call to action")


def test_a_repeated_or_read_out_sentence_is_written_again_with_another_seed(assistant):
    def write(call):
        if not call["prefill"] and asked(call).startswith("Write"):
            return "[happy] Spoke and Wheel opens downtown on Saturday."
        if asked(call).startswith("Last part"):
            return "[happy] Come by and ride away happy!"
        if call["seed"] is None:  # first try: the plan read out, then the hook again
            lead = "" if call["prefill"] else "[neutral] "
            return lead + "Open with a question or a bold line that names Spoke and Wheel."
        return ("" if call["prefill"] else "[neutral] ") + " ".join(DIFFERENT_SENTENCES[1:4])

    llm = SteppedLLM(write)
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel, a bike shop", preset="announcement", seconds=12)
    *_, finished = assistant.draft(choice, request)
    assert "Open with" not in finished and not cleaning.repeated_sentences(finished)
    again = [c for c in llm.calls if c["seed"] is not None]
    assert again and again[0]["temperature"] > llm.calls[0]["temperature"]  # a little hotter each try
    assert "Our mechanics fix flat tires" in finished and finished.endswith("Come by and ride away happy!")


def test_a_model_that_only_repeats_itself_ends_the_draft_instead_of_looping(assistant):
    llm = SteppedLLM(lambda call: ("" if call["prefill"] else "[happy] ") + "Spoke and Wheel opens downtown.")
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel", preset="announcement", seconds=30)
    *_, finished = assistant.draft(choice, request)
    assert finished == "[happy] Spoke and Wheel opens downtown."
    assert len(llm.calls) <= 4 * (asst.GIVE_UP_AFTER + 1)  # a few tries per step, then on


def test_stop_ends_a_draft_written_step_by_step(assistant):
    llm = SteppedLLM(lambda call: ("" if call["prefill"] else "[happy] ") + " ".join(DIFFERENT_SENTENCES))
    choice = with_model(assistant, llm)
    request = prompts.DraftRequest(topic="Spoke and Wheel", preset="announcement", seconds=60)
    texts = []
    for text in assistant.draft(choice, request):
        texts.append(text)
        if len(texts) == 5:
            assistant.stop()
    assert len(texts) <= 7 and len(llm.calls) == 1


def test_sentences_that_read_out_the_plan_or_a_title_are_recognised():
    request = prompts.DraftRequest(
        topic="Maple Tax, a tax helper", preset="product-intro", seconds=60, key_points="files in ten minutes"
    )
    told = prompts.instructions(request)
    for echo in (
        "Open with a question or a bold line that names Maple Tax.",
        "[happy] An opening line that makes viewers curious about Maple Tax, and why it matters.",
        "Give the main benefits.",
    ):
        assert cleaning.echoes_instructions(echo, told, "Maple Tax") or cleaning.talks_about_the_task(echo), echo
    for line in (
        "Maple Tax files your taxes in ten minutes.",  # the brief's own point is meant to be said
        "Try Maple Tax today, and see the difference for yourself!",  # so is the call to action
        "It is made for freelancers who hate paperwork.",
    ):
        assert not cleaning.echoes_instructions(line, told, "Maple Tax") and not cleaning.talks_about_the_task(line)
    assert cleaning.looks_like_title("Lesson on Compound Interest - How It Works, Simple Examples.")
    assert not cleaning.looks_like_title("Compound interest grows your savings every year.")
    assert cleaning.clean_script("Hook 1 - What is compound interest?") == "What is compound interest?"


def test_a_draft_over_its_budget_loses_sentences_before_its_call_to_action():
    parts = [
        "[happy] Spoke and Wheel opens downtown on Saturday.",
        "[neutral] " + " ".join(DIFFERENT_SENTENCES[1:9]),
        "[happy] Come by and ride away happy!",
    ]
    fitted = asst._fit_keeping_the_ending(parts, words=40)
    assert fitted[0] == parts[0] and fitted[-1] == parts[-1]  # the hook and the call to action stay
    assert fitted[1].startswith("[neutral] Our mechanics") and len(fitted[1]) < len(parts[1])
    assert len(cleaning.spoken_words(" ".join(fitted))) <= 48
    assert asst._fit_keeping_the_ending(parts, words=200) == parts
