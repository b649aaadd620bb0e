"""Interop cases for the OpenAI Python SDK against `turnwire serve`.

Run as `python cases.py CASE`, with OPENAI_BASE_URL and OPENAI_API_KEY set. Each case
checks what the SDK returned and prints one JSON object on its last line for the
calling test to check further; any failed check exits non-zero with a traceback.
"""

import json
import sys

import openai
from openai import OpenAI

MODEL = "gpt-interop"


def client(**options):
    return OpenAI(**options)


def report(**fields):
    fields["sdk_version"] = openai.__version__
    print(json.dumps(fields))


def stream_create():
    types = []
    numbers = []
    deltas = []
    final = None
    for event in client().responses.create(model=MODEL, input="Say hello.", stream=True):
        types.append(event.type)
        numbers.append(event.sequence_number)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        if event.type == "response.completed":
            final = event.response
    assert final is not None, f"no response.completed in {types}"
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
    text = "".join(deltas)
    assert text, "no text deltas"
    assert final.output_text == text, (final.output_text, text)
    assert final.status == "completed", final.status
    report(types=types, text=text, model=final.model)


def stream_helper():
    deltas = []
    with client().responses.stream(model=MODEL, input="Say hello.") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    text = "".join(deltas)
    assert text, "no text deltas"
    # The helper folds the events into its own snapshot and checks it against the
    # final response; the text must agree with the deltas too.
    assert final.output_text == text, (final.output_text, text)
    report(text=text, id=final.id, model=final.model, status=final.status)


def non_stream():
    response = client().responses.create(model=MODEL, input="Say hello.")
    assert type(response).__name__ == "Response", type(response)
    assert response.status == "completed", response.status
    assert response.output_text, "no text"
    report(text=response.output_text, id=response.id, model=response.model,
           usage=response.usage.total_tokens if response.usage else None)


def retries():
    # The scenario answers 429 and then 500 before the default model: two retries.
    response = client(max_retries=2).responses.create(model=MODEL, input="Say hello.")
    assert response.output_text, "no text"
    report(text=response.output_text)


def no_retries_left():
    try:
        client(max_retries=0).responses.create(model=MODEL, input="Say hello.")
    except openai.RateLimitError as err:
        report(error="rate_limited", status=err.status_code)
        return
    raise AssertionError("a 429 with no retries left must raise RateLimitError")


def websocket():
    responses = client().responses
    if not hasattr(responses, "connect"):
        report(skipped=f"openai {openai.__version__} has no responses.connect")
        return
    types = []
    deltas = []
    final = None
    with responses.connect() as connection:
        connection.response.create(model=MODEL, input="Say hello.")
        for event in connection:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type in ("response.completed", "response.failed", "error"):
                final = event
                break
    assert final is not None and final.type == "response.completed", types
    text = "".join(deltas)
    assert text and final.response.output_text == text, (final.response.output_text, text)
    report(types=types, text=text)


TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def tool_loop():
    api = client()
    history = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = api.responses.create(model=MODEL, input=history, tools=[TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, f"no function_call in {[item.type for item in first.output]}"
    call = calls[0]
    assert call.name == "get_weather", call.name
    json.loads(call.arguments)  # the arguments are JSON
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id,
                    "output": json.dumps({"temperature_c": 21})})
    second = api.responses.create(model=MODEL, input=history, tools=[TOOL])
    assert not [item for item in second.output if item.type == "function_call"], \
        "the tool output was answered with another call"
    assert second.output_text, "no text answer"
    report(call_id=call.call_id, name=call.name, answer=second.output_text)


CASES = {f.__name__: f for f in [stream_create, stream_helper, non_stream, retries,
                                 no_retries_left, websocket, tool_loop]}

if __name__ == "__main__":
    CASES[sys.argv[1]]()
