"""Benchmark of the remote (tethered-GPU) backend against the local one on the same checkpoint.
Prints a table and writes bench/results/remote.json.

    source scripts/env.sh
    python bench/bench_remote.py                    # tiny untrained checkpoint, loopback
    python bench/bench_remote.py --calls 10 --format-requests 50       # quick
    python bench/bench_remote.py --base-url http://gpu-host:8000/v1 --served-name M  # a real
                                                    # server (then no local comparison)

What is measured (one torch thread; the server is a separate process, the package's
``robot_r1_ros.model.openai_server``, on loopback):

- per-prediction latency, local (``QwenReasoner`` in this process) vs remote (``RemoteReasoner``
  -> server -> the same checkpoint), greedy, constrained, the same request, interleaved;
- the remote overhead split: **encode** (on the robot: prompt, resize, PNG, data URL),
  **network** (HTTP, JSON, SSE: client time minus the server's own), **server** (what the
  server reports in ``robot_r1.server_s``: image decode, processor, generate; and the model's
  share, ``preprocess_s + generate_s``), **parse**;
- format failures over ``--format-requests`` sampled requests (temperature 1.0) from the
  untrained checkpoint, with the server constraining (``structured_outputs.regex``) and without
  (``remote.constraint: none``, the local parser decides);
- the local constraint's cost per token at Qwen2.5-VL's 152,064-token vocabulary
  (``bench_model.bench_constraint_at_vocab``).

Timings on 2 shared cores swing; compare within one run; nothing asserts on them.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')

MAX_PIXELS = 112 * 112


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start_server(model: str, served: str, port: int, threads: int) -> subprocess.Popen:
    """The package's server in its own process; returns once it serves."""
    proc = subprocess.Popen(
        [sys.executable, '-m', 'robot_r1_ros.model.openai_server', '--model', model,
         '--served-model-name', served, '--port', str(port), '--device', 'cpu',
         '--num-threads', str(threads), '--max-pixels', str(MAX_PIXELS)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith('serving'):
            return proc
    raise RuntimeError(f'the server exited ({proc.wait()})')


def _ms(values: list[float]) -> dict:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {'median': round(statistics.median(ordered) * 1e3, 3), 'p90': round(p90 * 1e3, 3)}


def _request(kind, gen):
    from bench_model import _request as make, _scene
    return make(kind, gen, _scene())


def latency(local, remote, calls: int) -> dict:
    """Interleaved local/remote predictions of the same greedy constrained request."""
    from robot_r1_ros.core.types import TaskKind
    gen = remote.defaults.replace(do_sample=False, constrained=True)
    req = _request(TaskKind.OPEN_KEYPOINT, gen)
    local.predict(req)
    remote.predict(req)  # warm both
    rows: dict[str, list[float]] = {k: [] for k in (
        'local_total', 'local_preprocess', 'local_generate', 'remote_total', 'encode', 'network',
        'server', 'server_model', 'parse')}
    same = 0
    for _ in range(calls):
        a = local.predict(req)
        b = remote.predict(req)
        same += a.completion == b.completion
        rows['local_total'].append(a.timings.total_s)
        rows['local_preprocess'].append(a.timings.preprocess_s)
        rows['local_generate'].append(a.timings.generate_s)
        rows['remote_total'].append(b.timings.total_s)
        rows['encode'].append(b.timings.preprocess_s)
        server_s = remote.last_server_s or 0.0
        rows['server'].append(server_s)
        timings = remote.last_server_timings
        rows['server_model'].append(timings.get('preprocess_s', 0.0) + timings.get('generate_s',
                                                                                   0.0))
        rows['network'].append(max(0.0, b.timings.generate_s - server_s))
        rows['parse'].append(b.timings.parse_s)
    out = {k: _ms(v) for k, v in rows.items()}
    out['overhead_ms_median'] = round(
        (statistics.median(rows['remote_total']) - statistics.median(rows['local_total'])) * 1e3,
        3)
    out['same_completion'] = f'{same}/{calls}'
    out['generated_tokens'] = b.generated_tokens
    return out


def format_failures(remote_factory, requests: int) -> dict:
    """Sampled requests from the untrained checkpoint, constrained by the server and not."""
    from robot_r1_ros.core.types import TaskKind
    kinds = [TaskKind.OPEN_KEYPOINT, TaskKind.NEXT_WAYPOINT, TaskKind.CURRENT_STATE,
             TaskKind.MOVEMENT]
    out = {}
    for constraint in ('structured_outputs', 'none'):
        remote = remote_factory(constraint)
        failures, examples, t0 = 0, [], time.perf_counter()
        for i in range(requests):
            gen = remote.defaults.replace(do_sample=True, temperature=1.0, seed=i)
            o = remote.predict(_request(kinds[i % len(kinds)], gen))
            if not o.ok:
                failures += 1
                if len(examples) < 2:
                    examples.append(o.parse_error[:120])
        out[constraint] = {'requests': requests, 'format_failures': failures,
                           'rate': round(failures / requests, 4), 'examples': examples,
                           'wall_s': round(time.perf_counter() - t0, 1)}
        remote.close()
    return out


def run(args: argparse.Namespace) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    from robot_r1_ros.model import load_reasoner
    from robot_r1_ros.model.build_tiny import DEFAULT_OUT, ensure_built

    model = args.model or str(ensure_built(DEFAULT_OUT))
    gen = {'max_new_tokens': args.budget + 80, 'think_budget_tokens': args.budget}
    server = None
    base_url = args.base_url
    if base_url is None:
        port = _free_port()
        server = start_server(model, args.served_name, port, args.threads)
        base_url = f'http://127.0.0.1:{port}/v1'

    def remote_factory(constraint: str = 'structured_outputs'):
        return load_reasoner({'model_id': args.served_name, 'backend': 'remote',
                              'max_pixels': MAX_PIXELS, 'generation': gen,
                              'remote': {'base_url': base_url, 'constraint': constraint,
                                         'max_think_chars': args.budget * 4}})

    results: dict = {'model': model, 'base_url': base_url, 'max_pixels': MAX_PIXELS,
                     'think_budget_tokens': args.budget, 'threads': args.threads,
                     'image': '640x480 RGB, resized to <= 112x112 px'}
    try:
        remote = remote_factory()
        if args.base_url is None:
            local = load_reasoner({'model_id': model, 'device': 'cpu', 'max_pixels': MAX_PIXELS,
                                   'generation': gen})
            results['latency'] = latency(local, remote, args.calls)
            local.close()
        remote.close()
        results['format'] = format_failures(remote_factory, args.format_requests)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    if args.vocab:
        from bench_model import bench_constraint_at_vocab
        results['constraint_at_vocab'] = bench_constraint_at_vocab(args.vocab, 64, runs=8)
    return results


def print_table(r: dict) -> None:
    print(f"model {r['model']} via {r['base_url']}; {r['image']}; think budget "
          f"{r['think_budget_tokens']} tokens; {r['threads']} torch thread(s)")
    lat = r.get('latency')
    if lat:
        print(f"{'per prediction (ms)':<34}{'median':>10}{'p90':>10}")
        for key, label in [('local_total', 'local total'),
                           ('local_preprocess', '  local preprocess'),
                           ('local_generate', '  local generate'),
                           ('remote_total', 'remote total'), ('encode', '  encode (robot)'),
                           ('network', '  network (HTTP+SSE)'),
                           ('server', '  server (reported)'),
                           ('server_model', '    of which the model'), ('parse', '  parse')]:
            print(f"{label:<34}{lat[key]['median']:>10.2f}{lat[key]['p90']:>10.2f}")
        print(f"remote - local (median): {lat['overhead_ms_median']:.2f} ms; same completion "
              f"{lat['same_completion']}; {lat['generated_tokens']} tokens")
    for constraint, f in r['format'].items():
        print(f"format failures, server constraint {constraint!r}: {f['format_failures']}/"
              f"{f['requests']} ({100 * f['rate']:.1f} %) in {f['wall_s']} s")
    big = r.get('constraint_at_vocab')
    if big:
        print(f"local constraint at {big['vocab_size']} tokens: setup {big['setup_s']:.2f} s, "
              f"cold {big['cold_ms_per_token']:.3f} ms/token, warm "
              f"{big['warm_ms_per_token']:.3f} ms/token ({big['mask_states_cached']} states)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=None, help='checkpoint (default: the tiny one)')
    parser.add_argument('--served-name', default='robot-r1')
    parser.add_argument('--base-url', default=None,
                        help='an already running server (default: start the package server)')
    parser.add_argument('--calls', type=int, default=20)
    parser.add_argument('--format-requests', type=int, default=200)
    parser.add_argument('--budget', type=int, default=32, help='reasoning-token budget')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--vocab', type=int, default=152064, help='0 to skip')
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'remote.json')
    args = parser.parse_args(argv)
    results = run(args)
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + '\n', encoding='utf-8')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
