"""Benchmark of the model runtime: per-call latency split, tokens/s, constrained-decoding and
streaming overhead. Prints a table and writes bench/results/model.json.

    source scripts/env.sh
    python bench/bench_model.py                       # tiny checkpoint, 20 calls per case
    python bench/bench_model.py --calls 5             # quick
    python bench/bench_model.py --model /path/to/Qwen2.5-VL-7B-Instruct --device cuda

What is measured, on a 640x480 RGB frame, greedy decoding, one torch thread on the CPU:

- per call: ``preprocess`` (prompt via core.prompts, chat template, image processor),
  ``generate`` (prefill + decoding + constraint), ``parse`` (decode + core.parsing), total;
  median and 90th percentile over ``--calls`` calls, per task kind and image-size setting;
- prefill time (``max_new_tokens=1``) and decode ms/token = (generate - prefill) / (tokens - 1),
  constrained vs unconstrained;
- the constraint's own time per token (its ``__call__`` timed), cold (empty mask cache) and warm;
- streaming overhead (``on_text`` callback) per token.

On the tiny model every figure is framework overhead, not FLOPs: use them to compare settings,
never as a 7B estimate. Timings on 2 shared cores swing; nothing asserts on them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')


def _scene(height: int = 480, width: int = 640):
    import numpy as np
    img = np.full((height, width, 3), 190, np.uint8)
    img[height * 2 // 3:, :] = (120, 90, 60)                         # table
    img[height // 2:height // 2 + 40, width // 4:width // 4 + 40] = (220, 30, 30)   # cube
    img[height // 5:height // 5 + 50, width // 2:width // 2 + 30] = (40, 40, 200)   # gripper
    return img


def _request(kind, gen, image):
    from robot_r1_ros.core.prompts import PromptMetadata
    from robot_r1_ros.core.types import TaskKind
    from robot_r1_ros.model import ReasonerRequest

    meta = PromptMetadata(current_xyz_env_m=(0.1, -0.05, 0.25), current_gripper='open')
    options = None
    if kind is TaskKind.MOVEMENT:
        options = ['move left', 'move right', 'move up', 'move down']
    elif kind.is_multiple_choice:
        options = [(0.1, 0.0, 0.2), (0.2, 0.1, 0.1), (-0.1, 0.3, 0.05), (0.0, 0.0, 0.3)]
    return ReasonerRequest(image, kind, 'put the red cube on the blue square', meta,
                           options=options, generation=gen)


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {'median': statistics.median(ordered), 'p90': p90, 'min': ordered[0]}


def _ms(value: float) -> float:
    return round(value * 1e3, 3)


class _TimedProcessor:
    """Accumulates the wall time spent in the constraint's ``__call__`` (bench only)."""

    def __init__(self) -> None:
        from robot_r1_ros.model import constrained
        self.cls = constrained.ThinkAnswerLogitsProcessor
        self.original = self.cls.__call__
        self.seconds, self.calls = 0.0, 0

    def __enter__(self) -> '_TimedProcessor':
        original, timer = self.original, self

        def timed(proc, input_ids, scores):
            t0 = time.perf_counter()
            out = original(proc, input_ids, scores)
            timer.seconds += time.perf_counter() - t0
            timer.calls += 1
            return out

        self.cls.__call__ = timed
        return self

    def __exit__(self, *exc) -> None:
        self.cls.__call__ = self.original


def _synthetic_tokenizer(vocab_size: int, seed: int = 0):
    """A byte-level tokenizer with ``vocab_size`` token texts shaped like Qwen's (words with and
    without a leading space, digits, punctuation runs, tag pieces), for timing the constraint
    at the real vocabulary size; its merges are irrelevant to the constraint."""
    import random

    from tokenizers import pre_tokenizers
    from transformers import Qwen2Tokenizer

    from robot_r1_ros.model.build_tiny import QWEN_ADDED_TOKENS

    rng = random.Random(seed)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    pieces = ['<', '</', '>', '><', '<think', 'think', 'answer', '[[', ']]', '[', ']', ', ',
              'open', 'closed', ' open', ' closed', '.', '-', ',', '></', ']</']
    letters, punct = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', '.,;:!?()[]{}<>/-_'
    while len(vocab) < vocab_size - len(QWEN_ADDED_TOKENS):
        r = rng.random()
        if pieces:
            text = pieces.pop()
        elif r < 0.75:
            text = ('Ġ' if rng.random() < 0.6 else '') + ''.join(
                rng.choice(letters) for _ in range(rng.randint(2, 9)))
        elif r < 0.85:
            text = ''.join(rng.choice(punct) for _ in range(rng.randint(1, 3)))
        else:
            text = ''.join(rng.choice('0123456789') for _ in range(rng.randint(1, 3)))
        text = text.replace(' ', 'Ġ')
        vocab.setdefault(text, len(vocab))
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None,
                         eos_token='<|endoftext|>', pad_token='<|endoftext|>')
    tok.add_special_tokens({'additional_special_tokens': [t for t, _ in QWEN_ADDED_TOKENS]})
    return tok


def bench_constraint_at_vocab(vocab_size: int, budget: int, runs: int) -> dict:
    """Constraint cost per token at a Qwen-sized vocabulary, driven by random logits (no model):
    token-table build time, cold (first generation: mask cache empty) and warm ms/token."""
    import torch

    from robot_r1_ros.core.types import TaskKind
    from robot_r1_ros.model.constrained import ConstraintFactory

    tok = _synthetic_tokenizer(vocab_size - 64)
    eos = [tok.convert_tokens_to_ids('<|im_end|>')]
    t0 = time.perf_counter()
    factory = ConstraintFactory(tok, vocab_size, eos)
    factory.grammar(TaskKind.OPEN_KEYPOINT)
    setup_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(0)
    per_run = []
    for _ in range(runs):
        proc = factory.processor(TaskKind.OPEN_KEYPOINT, budget, budget + 80)
        ids = torch.zeros((1, 1), dtype=torch.long)
        spent, cpu, steps = 0.0, 0.0, 0
        for _ in range(budget + 80):
            scores = torch.randn((1, vocab_size), generator=gen)
            c0, t0 = time.thread_time(), time.perf_counter()
            masked = proc(ids, scores)
            spent += time.perf_counter() - t0
            cpu += time.thread_time() - c0  # CPU time: robust to other processes on the cores
            steps += 1
            gumbel = -torch.log(-torch.log(torch.rand((1, vocab_size), generator=gen)))
            nxt = int(torch.argmax(masked + gumbel))
            if nxt in eos:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], 1)
        per_run.append((spent / steps, steps, cpu / steps))
    text = tok.decode(ids[0, 1:].tolist())
    return {'vocab_size': vocab_size, 'setup_s': round(setup_s, 3),
            'cold_ms_per_token': _ms(per_run[0][0]),
            'warm_ms_per_token': _ms(statistics.median(r[0] for r in per_run[1:])),
            'warm_ms_per_token_min': _ms(min(r[0] for r in per_run[1:])),
            'cold_cpu_ms_per_token': _ms(per_run[0][2]),
            'warm_cpu_ms_per_token': _ms(statistics.median(r[2] for r in per_run[1:])),
            'steps_per_generation': statistics.median(r[1] for r in per_run),
            'mask_states_cached': factory.grammar(TaskKind.OPEN_KEYPOINT).cache_size(),
            'last_completion_tail': text[-60:]}


def run(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from robot_r1_ros.core.types import TaskKind
    from robot_r1_ros.model import load_reasoner
    from robot_r1_ros.model.build_tiny import DEFAULT_OUT, ensure_built

    t0 = time.perf_counter()
    model_path = args.model or str(ensure_built(DEFAULT_OUT))
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reasoner = load_reasoner({'model_id': model_path, 'device': args.device,
                              'dtype': args.dtype})
    load_s = time.perf_counter() - t0
    image = _scene()
    base = reasoner.defaults.replace(max_new_tokens=args.budget + 80,
                                     think_budget_tokens=args.budget, do_sample=False)
    results: dict = {
        'machine': {'python': platform.python_version(), 'torch': torch.__version__,
                    'cpu_count': os.cpu_count(), 'threads': args.threads,
                    'platform': platform.platform()},
        'model': reasoner.describe(), 'build_or_check_s': round(build_s, 3),
        'load_s': round(load_s, 3), 'image': '640x480 RGB', 'think_budget_tokens': args.budget,
        'calls_per_case': args.calls, 'cases': [],
    }

    # Constraint cold cost: the first constrained call builds the token table and masks.
    with _TimedProcessor() as timer:
        t0 = time.perf_counter()
        reasoner.constraints  # noqa: B018  (builds the token table)
        table_s = time.perf_counter() - t0
        cold = reasoner.predict(_request(TaskKind.OPEN_KEYPOINT, base, image))
    results['constraint_table_build_s'] = round(table_s, 4)
    results['constraint_cold_ms_per_token'] = _ms(timer.seconds / max(1, timer.calls))
    results['first_call_total_s'] = round(cold.timings.total_s, 4)

    settings = [('default pixels', None), ('max_pixels 256*28*28', 256 * 28 * 28)]
    kinds = [TaskKind.OPEN_KEYPOINT, TaskKind.NEXT_WAYPOINT]
    for label, max_pixels in settings:
        for kind in kinds:
            for constrained in (True, False):
                gen = base.replace(max_pixels=max_pixels, constrained=constrained)
                req = _request(kind, gen, image)
                prefill = [reasoner.predict(_request(kind, gen.replace(
                    max_new_tokens=1, constrained=False), image)).timings.generate_s
                    for _ in range(3)]
                prefill_s = statistics.median(prefill)
                rows = []
                with _TimedProcessor() as timer:
                    for _ in range(args.calls):
                        rows.append(reasoner.predict(req))
                gen_tokens = [o.generated_tokens for o in rows]
                decode = [(o.timings.generate_s - prefill_s) / max(1, o.generated_tokens - 1)
                          for o in rows]
                case = {
                    'pixels': label, 'kind': kind.value, 'constrained': constrained,
                    'prompt_tokens': rows[0].prompt_tokens, 'image_tokens': rows[0].image_tokens,
                    'generated_tokens_median': statistics.median(gen_tokens),
                    'parse_ok': sum(o.ok for o in rows), 'calls': len(rows),
                    'preprocess_ms': {k: _ms(v) for k, v in _stats(
                        [o.timings.preprocess_s for o in rows]).items()},
                    'generate_ms': {k: _ms(v) for k, v in _stats(
                        [o.timings.generate_s for o in rows]).items()},
                    'parse_ms': {k: _ms(v) for k, v in _stats(
                        [o.timings.parse_s for o in rows]).items()},
                    'total_ms': {k: _ms(v) for k, v in _stats(
                        [o.timings.total_s for o in rows]).items()},
                    'prefill_ms': _ms(prefill_s),
                    'decode_ms_per_token': _ms(statistics.median(decode)),
                    'tokens_per_s': round(statistics.median(o.tokens_per_s for o in rows), 1),
                    'constraint_ms_per_token': (_ms(timer.seconds / timer.calls)
                                                if timer.calls else 0.0),
                }
                results['cases'].append(case)

    # Streaming overhead: the same constrained call with and without the text callback.
    req = _request(TaskKind.OPEN_KEYPOINT, base, image)
    plain, streamed = [], []
    for _ in range(args.calls):
        out = reasoner.predict(req)
        plain.append(out.timings.generate_s / out.generated_tokens)
        chunks: list[str] = []
        out = reasoner.predict(req, on_text=chunks.append)
        streamed.append(out.timings.generate_s / out.generated_tokens)
    results['streaming_overhead_ms_per_token'] = _ms(statistics.median(streamed)
                                                     - statistics.median(plain))
    reasoner.close()
    if args.vocab:
        results['constraint_at_vocab'] = bench_constraint_at_vocab(args.vocab, args.budget,
                                                                   runs=max(8, args.calls // 2))
    return results


def print_table(results: dict) -> None:
    m = results['model']
    print(f"model {m['model_id']} ({m.get('model_type')}, {m.get('parameters')} params, "
          f"{m.get('device')}, {m.get('dtype')}, attn {m.get('attn_implementation')}); "
          f"load {results['load_s']:.2f} s; threads {results['machine']['threads']}")
    print(f"constraint: token table {results['constraint_table_build_s'] * 1e3:.1f} ms, "
          f"cold {results['constraint_cold_ms_per_token']:.3f} ms/token; first call "
          f"{results['first_call_total_s'] * 1e3:.1f} ms")
    head = (f"{'pixels':<22}{'kind':<15}{'constr':<7}{'prompt':>7}{'img':>5}{'gen':>5}"
            f"{'ok':>5}{'prep ms':>9}{'gen ms':>9}{'parse ms':>9}{'total ms':>9}"
            f"{'prefill':>9}{'ms/tok':>8}{'tok/s':>8}{'cons ms/tok':>12}")
    print(head)
    print('-' * len(head))
    for c in results['cases']:
        print(f"{c['pixels']:<22}{c['kind']:<15}{'yes' if c['constrained'] else 'no':<7}"
              f"{c['prompt_tokens']:>7}{c['image_tokens']:>5}"
              f"{c['generated_tokens_median']:>5.0f}{c['parse_ok']:>3}/{c['calls']:<2}"
              f"{c['preprocess_ms']['median']:>8.2f}{c['generate_ms']['median']:>9.2f}"
              f"{c['parse_ms']['median']:>9.3f}{c['total_ms']['median']:>9.2f}"
              f"{c['prefill_ms']:>9.2f}{c['decode_ms_per_token']:>8.3f}"
              f"{c['tokens_per_s']:>8.0f}{c['constraint_ms_per_token']:>12.3f}")
    print(f"streaming (on_text) overhead: {results['streaming_overhead_ms_per_token']:.3f} "
          'ms/token')
    big = results.get('constraint_at_vocab')
    if big:
        print(f"constraint at a {big['vocab_size']}-token vocabulary (synthetic token texts, "
              f"random logits): setup {big['setup_s']:.2f} s, cold "
              f"{big['cold_ms_per_token']:.3f} ms/token, warm {big['warm_ms_per_token']:.3f} "
              f"ms/token (best run {big['warm_ms_per_token_min']:.3f}; thread CPU time: cold "
              f"{big['cold_cpu_ms_per_token']:.3f}, warm {big['warm_cpu_ms_per_token']:.3f}), "
              f"{big['steps_per_generation']:.0f} steps, "
              f"{big['mask_states_cached']} cached states")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=None,
                        help='checkpoint folder or hub id (default: the tiny checkpoint)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='auto')
    parser.add_argument('--calls', type=int, default=20, help='calls per case')
    parser.add_argument('--budget', type=int, default=64, help='reasoning-token budget')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--vocab', type=int, default=152064,
                        help='also time the constraint alone at this vocabulary size '
                             '(Qwen2.5-VL: 152064); 0 to skip')
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'model.json')
    args = parser.parse_args(argv)
    results = run(args)
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + '\n', encoding='utf-8')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
