"""Grammar-constrained answers on llama.cpp, checked the fast way (:class:`GrammarAfterTopK`), and
answers that go on from a given start; on a tiny randomly initialised Qwen2 written as GGUF (built
here, no download): random weights test the code paths, not the quality of what is written."""

from __future__ import annotations

import re

import pytest

from engines.llm.base import LLMError
from studio.script import prompts

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

MESSAGES = [{"role": "system", "content": "You write."}, {"role": "user", "content": "hello bakery"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from test_llm import build_tiny_qwen2, write_tiny_gguf

    from engines.llm.llama_cpp import LlamaCppLLM

    folder = tmp_path_factory.mktemp("tiny-gguf")
    gguf = write_tiny_gguf(build_tiny_qwen2(folder / "hf"), folder / "tiny.gguf")
    return LlamaCppLLM(gguf, context=1024, threads=1)


def answer(llm, grammar, temperature=0.0, tokens=40, **kw) -> str:
    return "".join(llm.chat(MESSAGES, temperature=temperature, max_tokens=tokens, grammar=grammar, **kw))


SPEAKABLE = prompts.speakable_grammar(tags=True, emotions=["happy", "neutral"])
SENTENCE = r"[A-Z0-9À-ÖØ-Þ][a-zA-Z0-9À-ÖØ-öø-ÿĀ-ž ,'’%$€£&—–-]*(\.[0-9][a-zA-Z0-9 ,'’%$€£&—–-]*)*[.!?]"
GRAMMARS = {
    # (grammar, a regular expression every prefix of a finished answer must fit)
    "speakable": (SPEAKABLE, rf"\[(happy|neutral)\] {SENTENCE}(( |\n\n\[(happy|neutral)\] ){SENTENCE})*"),
    "digits": ('root ::= "Q" [0-9]+ "."\n', r"Q[0-9]+\."),
    "words": ('root ::= [a-z]+ (" " [a-z]+)* "."\n', r"[a-z]+( [a-z]+)*\."),
}


@pytest.mark.parametrize("name", GRAMMARS)
def test_grammar_checked_after_top_k_writes_what_the_full_grammar_allows(tiny, name, monkeypatch):
    grammar, shape = GRAMMARS[name]
    fast = answer(tiny, grammar)
    sampler = tiny._llama._sampler
    assert type(sampler).__name__ == "GrammarAfterTopK"
    # greedy: the likeliest token the grammar allows, whether found among the top 40 or by checking the
    # whole vocabulary, is the one llama-cpp-python's own chain (grammar first) picks
    monkeypatch.setattr(type(tiny._llama), "_init_sampler", llama_cpp.Llama._init_sampler)
    full = answer(tiny, grammar)
    assert fast == full and fast
    # every token kept to the grammar: the answer is a prefix of a sentence of the grammar's language
    if fast.endswith((".", "!", "?")):
        assert re.fullmatch(shape, fast), fast
    else:
        assert any(re.fullmatch(shape, fast + end) for end in (".", "0.", "a.")) or len(fast) > 20
    assert not set(fast) & set(':"()*#<>{}_\n') - ({"\n"} if name == "speakable" else set())


def test_both_ways_of_checking_the_grammar_are_used(tiny):
    answer(tiny, GRAMMARS["digits"][0])  # digits are rarely among a random model's top 40
    slow = tiny._llama._sampler
    answer(tiny, GRAMMARS["words"][0])
    fast = tiny._llama._sampler
    assert slow.slow_steps > 0 and fast.steps > fast.slow_steps


def test_sampling_with_a_grammar_keeps_to_it_at_any_temperature(tiny):
    grammar = GRAMMARS["speakable"][0]
    words = r"[A-Z0-9À-ÖØ-Þ][^\[\]\n:\"()*#<>{}_]*"
    paragraph = rf"\[(happy|neutral)\] {words}"
    for temperature in (0.5, 1.3):
        text = answer(tiny, grammar, temperature=temperature, tokens=60)  # may stop mid-sentence
        assert re.fullmatch(rf"{paragraph}(\n\n{paragraph})*", text), text


def test_a_grammar_no_token_can_follow_ends_the_answer_instead_of_the_program(tiny):
    # no token of the tiny vocabulary writes a euro sign: llama.cpp would abort the process if a
    # token the grammar rejects were accepted; the answer just ends
    assert answer(tiny, 'root ::= "€"\n') == ""
    assert answer(tiny, None)  # and the model still answers


def test_a_broken_grammar_is_one_plain_error(tiny):
    with pytest.raises(LLMError, match="not valid GBNF"):
        answer(tiny, "root ::= (")


def test_an_answer_goes_on_from_the_start_it_is_given(tiny):
    start = "Q12"
    assert tiny.prompt(MESSAGES, start).endswith("<|im_start|>assistant\n" + start)
    # the grammar applies to what follows the start alone
    rest = answer(tiny, 'root ::= [0-9]+ "."\n', prefill=start)
    assert re.fullmatch(r"[0-9]+\.?", rest), rest
    # seeded from what is asked: the same start gives the same answer, other seeds other answers
    hot = [answer(tiny, None, temperature=1.5, prefill=start) for _ in range(2)]
    assert hot[0] == hot[1]
    others = {answer(tiny, None, temperature=1.5, prefill=start, seed=s) for s in range(4)}
    assert len(others) > 1


def test_warming_evaluates_the_fixed_start_of_the_prompt(tiny):
    tiny._llama.reset()
    tiny.warm("You write.", "hello")
    warmed = tiny._llama.n_tokens
    full = tiny._llama.tokenize(tiny.prompt(MESSAGES).encode(), add_bos=False, special=True)
    assert 5 < warmed < len(full) and list(tiny._llama._input_ids[:warmed]) == full[:warmed]
