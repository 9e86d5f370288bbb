"""wrk output parsing, the wrk Lua script and the percentile arithmetic of the load generators."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ lives at the repo root

from bench.loadgen import WRK_TAG, LoadResult, lua_script, parse_wrk, percentile, summarise
from bench.run import count_sse_content_chunks, needs_steady

WRK_TEXT = """Running 5s test @ http://127.0.0.1:8000/v1/chat/completions
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.27ms    3.10ms  31.12ms   75.00%
    Req/Sec     2.80k   120.00     3.00k    70.00%
  Latency Distribution
     50%   10.27ms
     75%   12.01ms
     90%   14.50ms
     99%    1.31s
  14012 requests in 5.03s, 9.01MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   2786.70
Transfer/sec:      1.79MB
"""


def test_parse_wrk_text_converts_units_and_sums_errors() -> None:
    r = parse_wrk(WRK_TEXT)
    assert r.requests == 14012
    assert r.duration_s == pytest.approx(5.03)
    assert r.rps == pytest.approx(2786.70)
    assert r.p50_ms == pytest.approx(10.27)
    assert r.p99_ms == pytest.approx(1310.0)  # "1.31s" is seconds, not ms
    assert r.errors == 2 + 3 + 7


def test_parse_wrk_text_microseconds() -> None:
    text = WRK_TEXT.replace("50%   10.27ms", "50%  812.00us")
    assert parse_wrk(text).p50_ms == pytest.approx(0.812)


def test_parse_wrk_prefers_tagged_json_line() -> None:
    line = (
        WRK_TAG + '{"requests":500,"duration_us":2000000,"errors":1,"status_errors":4,'
        '"p50_us":1500,"p99_us":9000}'
    )
    r = parse_wrk(WRK_TEXT + line + "\n")
    assert r == LoadResult(
        requests=500, duration_s=2.0, rps=250.0, p50_ms=1.5, p99_ms=9.0, errors=5
    )


def test_parse_wrk_zero_requests_has_no_latency() -> None:
    line = (
        WRK_TAG + '{"requests":0,"duration_us":1000000,"errors":0,"status_errors":0,'
        '"p50_us":0,"p99_us":0}'
    )
    r = parse_wrk(line)
    assert r.rps == 0.0
    assert r.p50_ms is None and r.p99_ms is None


def test_parse_wrk_rejects_failure_output() -> None:
    with pytest.raises(ValueError, match="unrecognised wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_lua_script_posts_body_file_with_headers(tmp_path: Path) -> None:
    body = tmp_path / 'b "x".json'
    script = lua_script(body, {"Authorization": "Bearer k"})
    assert 'wrk.method = "POST"' in script
    assert '"Authorization"' in script and '"Bearer k"' in script
    assert '\\"x\\"' in script  # the path is quoted as a Lua string literal
    assert WRK_TAG.strip() in script


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_summarise_counts_rate_and_keeps_errors() -> None:
    r = summarise([3.0, 1.0, 2.0, 4.0], errors=2, elapsed_s=2.0)
    assert (r.requests, r.rps, r.p50_ms, r.p99_ms, r.errors) == (4, 2.0, 2.0, 4.0, 2)
    assert summarise([], 1, 1.0).p50_ms is None


def test_sse_chunk_counting() -> None:
    raw = b'data: {"a":1}\n\ndata: {"a":2}\n\n: comment\n\ndata: [DONE]\n\n'
    assert count_sse_content_chunks(raw) == (2, True)
    assert count_sse_content_chunks(b'data: {"a":1}\n\n') == (1, False)


def test_needs_steady_when_latency_is_a_large_part_of_the_run() -> None:
    def res(p50: float | None) -> LoadResult:
        return LoadResult(requests=1, duration_s=1, rps=1, p50_ms=p50, p99_ms=p50, errors=0)

    assert not needs_steady(res(20.0), run_seconds=4)
    assert needs_steady(res(1000.0), run_seconds=4)
    assert not needs_steady(res(1000.0), run_seconds=60)
    assert needs_steady(res(None), run_seconds=4)
