"""Build the project's tiny Qwen2.5-VL checkpoint, deterministically and offline.

    python -m robot_r1_ros.model.build_tiny [--out DIR] [--if-missing] [--seed N]

The checkpoint is a real ``Qwen2_5_VLForConditionalGeneration`` (vision tower with window
attention, M-RoPE, the real special tokens and the real Qwen2.5-VL chat template) with tiny
dimensions and random weights from a fixed seed. It stands in for Qwen/Qwen2.5-VL-7B-Instruct in
tests and the demo until a trained checkpoint exists: it exercises the same loading, prompting,
processing, generation and parsing code, but its text is noise (constrained decoding still makes
every answer parse).

The folder has the layout of the hub checkpoint, so it loads through the same
``from_pretrained`` calls (:mod:`robot_r1_ros.model.qwen_backend`):

- ``config.json``, ``generation_config.json``, ``model.safetensors``;
- ``tokenizer.json``, ``tokenizer_config.json`` (a byte-level BPE trained here, with Qwen2's
  pre-tokenizer, on prompts and answers rendered by ``core.prompts`` / ``core.parsing``, so the
  project's prompts tokenize compactly; plus Qwen's 22 added tokens in Qwen's order);
- ``preprocessor_config.json`` in the 7B's format (``min_pixels``/``max_pixels``,
  ``processor_class: Qwen2_5_VLProcessor``) and ``chat_template.json``;
- ``build_info.json``: the recipe hash; ``--if-missing`` rebuilds when it changed.

Same code + same seed + same library versions give byte-identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from robot_r1_ros.core.paths import REPO_ROOT

_LOG = logging.getLogger(__name__)

DEFAULT_OUT = REPO_ROOT / 'models' / 'tiny-qwen2.5-vl'
"""Default output folder (git-ignored); ``scripts/setup.sh`` builds it with ``--if-missing``."""

RECIPE_VERSION = 1
"""Bump when the recipe changes in a way the source hash would not show."""

# Qwen2's pre-tokenizer split (digits one by one, as in the real tokenizer).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Qwen2.5 / Qwen2.5-VL added tokens, in Qwen's id order, with their `special` flag.
QWEN_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ('<|endoftext|>', True), ('<|im_start|>', True), ('<|im_end|>', True),
    ('<|object_ref_start|>', True), ('<|object_ref_end|>', True), ('<|box_start|>', True),
    ('<|box_end|>', True), ('<|quad_start|>', True), ('<|quad_end|>', True),
    ('<|vision_start|>', True), ('<|vision_end|>', True), ('<|vision_pad|>', True),
    ('<|image_pad|>', True), ('<|video_pad|>', True), ('<tool_call>', False),
    ('</tool_call>', False), ('<|fim_prefix|>', False), ('<|fim_middle|>', False),
    ('<|fim_suffix|>', False), ('<|fim_pad|>', False), ('<|repo_name|>', False),
    ('<|file_sep|>', False),
)

# The chat template of Qwen/Qwen2.5-VL-7B-Instruct (chat_template.json), verbatim.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

# Qwen2.5-VL-7B-Instruct's preprocessor_config.json values.
PREPROCESSOR_CONFIG = {
    'min_pixels': 3136,
    'max_pixels': 12845056,
    'patch_size': 14,
    'temporal_patch_size': 2,
    'merge_size': 2,
    'image_mean': [0.48145466, 0.4578275, 0.40821073],
    'image_std': [0.26862954, 0.26130258, 0.27577711],
    'image_processor_type': 'Qwen2VLImageProcessor',
    'processor_class': 'Qwen2_5_VLProcessor',
}

BPE_VOCAB_SIZE = 2048
"""Byte-level BPE size before the added tokens (256 byte symbols + merges)."""

# Tiny dimensions: same structure as the 7B (whose values are in the comments).
TEXT_DIMS = dict(hidden_size=64,              # 3584
                 intermediate_size=128,       # 18944
                 num_hidden_layers=2,         # 28
                 num_attention_heads=4,       # 28  (head_dim 16; 7B: 128)
                 num_key_value_heads=2,       # 4
                 max_position_embeddings=32768)
MROPE_SECTION = [2, 3, 3]                     # sums to head_dim / 2 (7B: [16, 24, 24])
VISION_DIMS = dict(depth=2,                   # 32
                   hidden_size=32,            # 1280
                   intermediate_size=64,      # 3420
                   num_heads=2,               # 16
                   patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                   fullatt_block_indexes=[1])  # [7, 15, 23, 31]

_INSTRUCTIONS = (
    'pick up the red cube', 'put the red cube on the yellow square',
    'stack the blue block on the green block', 'push the green cube to the left',
    'place the red cube in the bowl', 'lift the blue block', 'move the yellow cube to the right',
    'put the green block on the red square', 'pick up the small blue cube and place it in the box',
    'open the drawer', 'close the drawer', 'press the button', 'slide the block forward',
)
_OBJECTS = ('red cube', 'blue block', 'green cube', 'yellow square', 'bowl', 'box', 'table',
            'target', 'drawer', 'button')
_MOVES = ('move left', 'move right', 'move up', 'move down', 'move forward', 'move backward',
          'move toward the camera', 'move away from the camera', 'stay', 'open the gripper',
          'close the gripper')
_REASONING = (
    'The gripper is {rel} the {obj}.', 'The {obj} is {rel} the gripper.',
    'The gripper is {state}, so it should {move} next.',
    'To {task}, the gripper must first reach the {obj}.',
    'The next waypoint is {dist} m {rel} the current position.',
    'The gripper should {move} and then {move2}.',
    'The current position is {xyz}; the {obj} is at {xyz2}.',
    'The target is higher than the gripper, so z increases.',
    'The target is lower than the gripper, so z decreases.',
    'The gripper must close to grasp the {obj} and open to release it.',
)
_RELATIONS = ('above', 'below', 'left of', 'right of', 'in front of', 'behind', 'near', 'far from')


def _xyz(rng: random.Random) -> tuple[float, float, float]:
    return (round(rng.uniform(-0.6, 0.6), 3), round(rng.uniform(-0.6, 0.6), 3),
            round(rng.uniform(-0.05, 0.8), 3))


def corpus(seed: int = 0, n_per_kind: int = 60) -> Iterator[str]:
    """Deterministic training text: the project's prompts, answers and reasoning-like prose.

    Uses ``core.prompts`` / ``core.parsing`` so the tokenizer fits the real prompts.
    """
    from robot_r1_ros.core import parsing, prompts
    from robot_r1_ros.core.types import PAPER_TASKS, GripperState, TaskKind

    rng = random.Random(seed)
    yield prompts.SYSTEM_PROMPT
    yield 'You are a helpful assistant.'
    yield '0 1 2 3 4 5 6 7 8 9 . , - [ ] [[ ]] ( ) < > / : ; = + * ? ! " \' \n'
    for kind in PAPER_TASKS:  # the tokenizer (and so the checkpoint) as before grounding
        for _ in range(n_per_kind):
            gripper = rng.choice(list(GripperState))
            meta = prompts.PromptMetadata(current_xyz_env_m=_xyz(rng), current_gripper=gripper)
            if kind is TaskKind.MOVEMENT:
                options = rng.sample(_MOVES, 4)
            elif kind.is_multiple_choice:
                options = [_xyz(rng) for _ in range(4)]
            else:
                options = None
            yield prompts.build_user_text(kind, rng.choice(_INSTRUCTIONS), meta, options)
            think = ' '.join(
                rng.choice(_REASONING).format(
                    rel=rng.choice(_RELATIONS), obj=rng.choice(_OBJECTS), state=gripper.value,
                    move=rng.choice(_MOVES), move2=rng.choice(_MOVES),
                    task=rng.choice(_INSTRUCTIONS), dist=f'{rng.uniform(0, 0.3):.3f}',
                    xyz=parsing.format_xyz(_xyz(rng)), xyz2=parsing.format_xyz(_xyz(rng)))
                for _ in range(rng.randint(1, 4)))
            if kind.is_multiple_choice:
                answer = parsing.format_option(rng.choice(parsing.OPTION_LETTERS))
            else:
                answer = parsing.format_open_keypoint(_xyz(rng), rng.choice(list(GripperState)))
            yield parsing.format_completion(think, answer)
            yield parsing.format_completion(' ' + think + ' ', ' ' + answer + ' ')


def recipe_hash(seed: int) -> str:
    """Hash of everything that determines the output: this file, core's prompt/grammar source,
    the seed and the library versions."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:  # no import: keeps `--if-missing` no-ops fast
        try:
            return version(name)
        except PackageNotFoundError:
            return '?'

    h = hashlib.sha256()
    for path in (Path(__file__), REPO_ROOT / 'robot_r1_ros' / 'core' / 'prompts.py',
                 REPO_ROOT / 'robot_r1_ros' / 'core' / 'parsing.py'):
        h.update(path.read_bytes() if path.exists() else b'')
    versions = '|'.join(installed(n) for n in ('torch', 'transformers', 'tokenizers'))
    h.update(f'{RECIPE_VERSION}|{seed}|{versions}'.encode())
    return h.hexdigest()


def _train_tokenizer(seed: int):
    """Byte-level BPE with Qwen2's pre-tokenizer, wrapped as a ``Qwen2Tokenizer``."""
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                            pre_tokenizers, trainers)
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(list(corpus(seed)), trainer)
    state = json.loads(bpe.to_str())['model']
    # transformers 5 wants the merges as tuples (strings raise "failed to extract enum PyMerges").
    tok = Qwen2Tokenizer(vocab=state['vocab'], merges=[tuple(m) for m in state['merges']],
                         unk_token=None, bos_token=None, eos_token='<|endoftext|>',
                         pad_token='<|endoftext|>', errors='replace', add_prefix_space=False)
    for text, special in QWEN_ADDED_TOKENS:  # one by one: ids follow Qwen's order
        if special:
            tok.add_special_tokens({'additional_special_tokens': [text]},
                                   replace_extra_special_tokens=False)
        else:
            tok.add_tokens([AddedToken(text, special=False, normalized=False)])
    tok.eos_token = '<|im_end|>'  # as in *-Instruct: a turn ends generation
    tok.model_max_length = 131072
    tok.chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    return tok


def _build_model(tok, seed: int):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {text: tok.convert_tokens_to_ids(text) for text, _ in QWEN_ADDED_TOKENS}
    vocab_size = (len(tok) + 63) // 64 * 64  # padded like the real checkpoints (152064)
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=vocab_size, **TEXT_DIMS, hidden_act='silu', rms_norm_eps=1e-6,
            rope_parameters={'rope_type': 'default', 'rope_theta': 1000000.0,
                             'mrope_section': MROPE_SECTION},
            tie_word_embeddings=False, bos_token_id=ids['<|endoftext|>'],
            eos_token_id=ids['<|im_end|>'], pad_token_id=ids['<|endoftext|>']),
        vision_config=dict(**VISION_DIMS, out_hidden_size=TEXT_DIMS['hidden_size'],
                           in_chans=3, hidden_act='silu'),
        image_token_id=ids['<|image_pad|>'], video_token_id=ids['<|video_pad|>'],
        vision_start_token_id=ids['<|vision_start|>'],
        vision_end_token_id=ids['<|vision_end|>'], tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    gen = model.generation_config
    gen.bos_token_id = ids['<|endoftext|>']
    gen.pad_token_id = ids['<|endoftext|>']
    gen.eos_token_id = [ids['<|im_end|>'], ids['<|endoftext|>']]
    # Plain defaults (the 7B-Instruct ships near-greedy sampling); the backend passes its own.
    gen.do_sample = False
    return model


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + '\n',
                    encoding='utf-8')


def build(out: Path | str = DEFAULT_OUT, seed: int = 0) -> Path:
    """Build the checkpoint into ``out`` (replaced atomically if it exists).

    Args:
        out: Destination folder.
        seed: Seed of the random weights and the corpus.

    Returns:
        The output folder.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', dir=out.parent))
    try:
        tok = _train_tokenizer(seed)
        model = _build_model(tok, seed)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        for extra in ('chat_template.jinja',):  # the 7B ships chat_template.json instead
            (tmp / extra).unlink(missing_ok=True)
        _write_json(tmp / 'chat_template.json', {'chat_template': QWEN2_5_VL_CHAT_TEMPLATE})
        _write_json(tmp / 'preprocessor_config.json', PREPROCESSOR_CONFIG)
        n_params = sum(p.numel() for p in model.parameters())
        _write_json(tmp / 'build_info.json', {
            'builder': 'robot_r1_ros.model.build_tiny', 'recipe_sha256': recipe_hash(seed),
            'seed': seed, 'parameters': n_params, 'tokenizer_size': len(tok),
            'note': 'random weights: for tests and demos, not for control'})
        for path in tmp.iterdir():  # save_pretrained writes 0600; a node may run as another user
            path.chmod(0o644)
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _LOG.info('built %s (%d parameters, tokenizer %d)', out, n_params, len(tok))
    return out


REQUIRED_FILES = ('config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json',
                  'tokenizer_config.json', 'preprocessor_config.json', 'chat_template.json',
                  'build_info.json')


def is_up_to_date(out: Path | str, seed: int = 0) -> bool:
    """True when ``out`` holds a complete build of the current recipe."""
    out = Path(out)
    if not all((out / name).is_file() for name in REQUIRED_FILES):
        return False
    try:
        info = json.loads((out / 'build_info.json').read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return False
    return info.get('recipe_sha256') == recipe_hash(seed) and info.get('seed') == seed


def ensure_built(out: Path | str = DEFAULT_OUT, seed: int = 0) -> Path:
    """Build ``out`` unless an up-to-date build is there; returns the folder."""
    if is_up_to_date(out, seed):
        return Path(out).resolve()
    return build(out, seed)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog='python -m robot_r1_ros.model.build_tiny',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', type=Path, default=DEFAULT_OUT,
                        help='output folder (default: models/tiny-qwen2.5-vl in the repo)')
    parser.add_argument('--if-missing', action='store_true',
                        help='do nothing when an up-to-date build is already there')
    parser.add_argument('--seed', type=int, default=0, help='seed of weights and corpus')
    args = parser.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    t0 = time.perf_counter()
    if args.if_missing and is_up_to_date(args.out, args.seed):
        print(f'tiny checkpoint up to date: {args.out}')
        return 0
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # a one-line CLI: no "Writing model shards" bar
    out = build(args.out, args.seed)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f'built {out} ({size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
