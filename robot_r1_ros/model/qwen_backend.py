"""Transformers backend for the Qwen2-VL / Qwen2.5-VL family.

One code path for every checkpoint of the family: the project's tiny random model on a CPU here,
a GRPO-trained checkpoint, or Qwen/Qwen2.5-VL-7B-Instruct in bf16 on the robot's GPU:

- ``AutoModelForImageTextToText.from_pretrained`` with ``use_safetensors=True`` and
  ``trust_remote_code=False`` (a local folder, or a hub id resolved through the local cache /
  the hub unless offline);
- :func:`robot_r1_ros.model.processor.load_processor` (stock ``AutoProcessor`` where torchvision
  works, the image-only processor elsewhere), with optional ``min_pixels``/``max_pixels``;
- chat template -> processor -> ``generate`` with the answer constraint of
  :mod:`robot_r1_ros.model.constrained` -> decode -> ``core.parsing``.

Production settings (GPU): ``dtype='bfloat16'`` (``'auto'`` picks it), ``device='cuda'``,
``attn_implementation='flash_attention_2'`` where flash-attn is installed (``'auto'`` picks it),
``load_in_4bit=True`` (bitsandbytes) to fit the 7B in ~6 GB, ``max_pixels`` to bound the image
tokens (the main prefill cost). Here: fp32 on the CPU with sdpa.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.model.constrained import ConstraintFactory
from robot_r1_ros.model.errors import (GenerationCancelledError, GenerationError,
                                       ModelLoadError)
from robot_r1_ros.model.processor import IMAGE_ONLY_PROCESSORS, load_processor
from robot_r1_ros.core.config import GenerationOptions, ReasonerConfig
from robot_r1_ros.core.paths import not_found_hint, resolve_model_path, search_roots
from robot_r1_ros.model.interface import (Reasoner, ReasonerOutput, ReasonerRequest,
                                          ReasonerTimings, TextCallback, parse_output_fields)

_LOG = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = tuple(sorted(IMAGE_ONLY_PROCESSORS))
_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}
_NON_SAFETENSORS = ('*.bin', '*.pt', '*.pth', '*.ckpt', '*.pkl')


def _looks_like_path(model_id: str) -> bool:
    """True for ids that can only be folders ('/x', './x', '~/x', 'a/b/c', 'x/', or 'a/b'
    where a local folder 'a' exists, as in the default 'models/tiny-qwen2.5-vl')."""
    if (model_id.startswith(('/', '.', '~')) or model_id.endswith('/')
            or model_id.count('/') != 1):
        return True
    first = model_id.split('/')[0]
    return any((root / first).is_dir() for root in search_roots())


def check_checkpoint_folder(folder: Path) -> None:
    """Check that a local folder is a loadable safetensors checkpoint.

    Raises:
        ModelLoadError: Not a folder, no ``config.json``, or weights that are not safetensors.
    """
    if not folder.is_dir():
        raise ModelLoadError(f'model folder {str(folder)!r} does not exist', str(folder))
    if not (folder / 'config.json').is_file():
        raise ModelLoadError(f'{str(folder)!r} has no config.json: not a model checkpoint',
                             str(folder))
    if any(folder.glob('*.safetensors')):
        return
    unsafe = sorted(p.name for pattern in _NON_SAFETENSORS for p in folder.glob(pattern))
    if unsafe:
        raise ModelLoadError(
            f'{str(folder)!r} holds only non-safetensors weights ({", ".join(unsafe[:3])}); '
            'pickle-based weights are refused: convert them to safetensors', str(folder))
    raise ModelLoadError(f'{str(folder)!r} has no *.safetensors weights', str(folder))


def resolve_device(device: str) -> torch.device:
    """``'auto'`` -> CUDA when available, else CPU."""
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dev = torch.device(device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ModelLoadError(f'device {device!r} requested but CUDA is not available')
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``'auto'`` -> bf16 on CUDA where supported (else fp16), fp32 elsewhere."""
    if dtype != 'auto':
        return _DTYPES[dtype]
    if device.type == 'cuda':
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_attention(attn: str, device: torch.device, dtype: torch.dtype) -> str:
    """``'auto'`` -> flash_attention_2 when installed and usable, else sdpa.

    Raises:
        ModelLoadError: flash_attention_2 requested where it cannot run.
    """
    from transformers.utils import is_flash_attn_2_available

    fa2_ok = (device.type == 'cuda' and dtype in (torch.bfloat16, torch.float16)
              and is_flash_attn_2_available())
    if attn == 'auto':
        return 'flash_attention_2' if fa2_ok else 'sdpa'
    if attn == 'flash_attention_2' and not fa2_ok:
        raise ModelLoadError(
            'attn_implementation=flash_attention_2 needs a CUDA device, bf16/fp16 weights and '
            'the flash-attn package (pip install flash-attn --no-build-isolation); use sdpa '
            'otherwise')
    return attn


class _CallbackStreamer(BaseStreamer):
    """Calls ``on_text`` with completion text deltas (special tokens removed, whole characters
    only), so that the deltas concatenate to the final decoded completion."""

    def __init__(self, tokenizer: Any, on_text: TextCallback) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.ids: list[int] = []
        self.sent = ''
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first pushes the prompt
            self._prompt_seen = True
            return
        self.ids.extend(int(v) for v in value.reshape(-1).tolist())
        self._emit(self.tokenizer.decode(self.ids, skip_special_tokens=True), final=False)

    def _emit(self, text: str, final: bool) -> None:
        if not final and text.endswith('\ufffd'):
            return  # wait for the rest of a multi-byte character
        if text.startswith(self.sent) and len(text) > len(self.sent):
            delta, self.sent = text[len(self.sent):], text
            self.on_text(delta)

    def end(self) -> None:
        if self.ids:
            self._emit(self.tokenizer.decode(self.ids, skip_special_tokens=True), final=True)


class _CancelCriteria(StoppingCriteria):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor,
                 **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool,
                          device=input_ids.device)


class QwenReasoner(Reasoner):
    """A Qwen2-VL / Qwen2.5-VL checkpoint behind the :class:`Reasoner` interface.

    Args:
        config: Model id and runtime settings (see :class:`ReasonerConfig`).

    Raises:
        ModelLoadError: Missing folder, non-safetensors weights, unsupported architecture,
            missing optional package (bitsandbytes, flash-attn), hub id not available offline.
        ConfigError: Invalid settings.
    """

    def __init__(self, config: ReasonerConfig) -> None:
        if not isinstance(config, ReasonerConfig):
            raise ConfigError(f'expected a ReasonerConfig, got {type(config).__name__}')
        self.config = config
        self.model_id = config.model_id
        self.defaults = config.generation
        self._lock = threading.Lock()
        t0 = time.perf_counter()
        self.path = resolve_model_path(config.model_id)
        local = Path(self.path).is_dir()
        if local:
            check_checkpoint_folder(Path(self.path))
        elif _looks_like_path(self.path):
            hint = ''
            if 'tiny' in self.path:
                hint = '; build it with: python -m robot_r1_ros.model.build_tiny'
            raise ModelLoadError(f'model folder {config.model_id!r} not found '
                                 f'({not_found_hint(config.model_id)}){hint}', config.model_id)
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        hub_kwargs: dict[str, Any] = {'local_files_only': config.local_files_only}
        if config.revision is not None:
            hub_kwargs['revision'] = config.revision
        try:
            hf_config = AutoConfig.from_pretrained(self.path, trust_remote_code=False,
                                                   **hub_kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(
                f'cannot read the config of {config.model_id!r} (not a local folder: '
                f'{not_found_hint(config.model_id)}; hub lookup failed, downloads may be off: '
                f'HF_HUB_OFFLINE): {exc}',
                config.model_id) from exc
        self.model_type = getattr(hf_config, 'model_type', '')
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ModelLoadError(
                f'{config.model_id!r} is a {self.model_type!r} model; supported: '
                f'{", ".join(SUPPORTED_MODEL_TYPES)}', config.model_id)
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.attn_implementation = resolve_attention(config.attn_implementation, self.device,
                                                     self.dtype)
        load_kwargs: dict[str, Any] = dict(
            dtype=self.dtype, attn_implementation=self.attn_implementation, use_safetensors=True,
            trust_remote_code=False, **hub_kwargs)
        if config.load_in_4bit:
            if importlib.util.find_spec('bitsandbytes') is None:
                raise ModelLoadError('load_in_4bit needs the bitsandbytes package (pip install '
                                     'bitsandbytes; CUDA GPU)', config.model_id)
            from transformers import BitsAndBytesConfig
            load_kwargs['quantization_config'] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type='nf4', bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=self.dtype)
        if config.device_map is not None:
            load_kwargs['device_map'] = config.device_map
        elif config.load_in_4bit:
            load_kwargs['device_map'] = {'': str(self.device)}
        try:
            self.processor = load_processor(
                self.path, model_type=self.model_type, min_pixels=config.min_pixels,
                max_pixels=config.max_pixels, local_files_only=config.local_files_only,
                revision=config.revision)
            model = AutoModelForImageTextToText.from_pretrained(self.path, **load_kwargs)
        except RobotR1Error:
            raise
        except Exception as exc:  # noqa: BLE001  (safetensors, CUDA OOM, ... all mean: not loaded)
            raise ModelLoadError(f'cannot load {config.model_id!r}: {type(exc).__name__}: {exc}',
                                 config.model_id) from exc
        if 'device_map' not in load_kwargs:
            model = model.to(self.device)
        self.model = model.eval()
        self.device = self.model.device
        self.tokenizer = self.processor.tokenizer
        gen_cfg = self.model.generation_config
        eos = gen_cfg.eos_token_id
        self.eos_token_ids = [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])
                              if e is not None]
        if self.tokenizer.eos_token_id is not None and \
                self.tokenizer.eos_token_id not in self.eos_token_ids:
            self.eos_token_ids.append(int(self.tokenizer.eos_token_id))
        if not self.eos_token_ids:
            raise ModelLoadError(f'{config.model_id!r} defines no eos token', config.model_id)
        pad = gen_cfg.pad_token_id if gen_cfg.pad_token_id is not None \
            else self.tokenizer.pad_token_id
        self.pad_token_id = int(pad) if pad is not None else self.eos_token_ids[0]
        mcfg = self.model.config
        self.image_token_id = int(mcfg.image_token_id)
        self._vision_token_ids = [int(t) for t in (
            mcfg.image_token_id, getattr(mcfg, 'video_token_id', None),
            getattr(mcfg, 'vision_start_token_id', None),
            getattr(mcfg, 'vision_end_token_id', None)) if t is not None]
        text_cfg = mcfg.get_text_config() if hasattr(mcfg, 'get_text_config') else mcfg
        self.vocab_size = int(text_cfg.vocab_size)
        self._constraints: ConstraintFactory | None = None
        self.load_s = time.perf_counter() - t0
        _LOG.info('loaded %s (%s, %s, %s, attn=%s) in %.2f s', config.model_id, self.model_type,
                  self.device, self.dtype, self.attn_implementation, self.load_s)

    # ---------------------------------------------------------------------------------------

    @property
    def constraints(self) -> ConstraintFactory:
        """The answer-constraint factory (built on first use: ~0.7 s at a 152k vocabulary)."""
        if self._constraints is None:
            self._constraints = ConstraintFactory(self.tokenizer, self.vocab_size,
                                                  self.eos_token_ids, self.device)
        return self._constraints

    def describe(self) -> dict[str, Any]:
        """See :meth:`Reasoner.describe`."""
        ip = self.processor.image_processor
        size = getattr(ip, 'size', None)
        return {
            'model_id': self.model_id, 'path': str(self.path), 'backend': 'transformers',
            'model_type': self.model_type, 'device': str(self.device),
            'dtype': str(self.dtype).replace('torch.', ''),
            'attn_implementation': self.attn_implementation,
            'load_in_4bit': self.config.load_in_4bit,
            'parameters': sum(p.numel() for p in self.model.parameters()),
            'vocab_size': self.vocab_size, 'processor': type(self.processor).__name__,
            'min_pixels': getattr(size, 'shortest_edge', None) if size is not None else None,
            'max_pixels': getattr(size, 'longest_edge', None) if size is not None else None,
            'load_s': round(self.load_s, 3),
        }

    def _encode(self, request: ReasonerRequest, opts: GenerationOptions
                ) -> dict[str, torch.Tensor]:
        messages = request.build_messages()
        text = self.processor.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)
        call_kwargs: dict[str, Any] = {}
        if opts.min_pixels is not None or opts.max_pixels is not None:
            size = self.processor.image_processor.size
            call_kwargs['size'] = {
                'shortest_edge': opts.min_pixels or size.shortest_edge,
                'longest_edge': opts.max_pixels or size.longest_edge}
        inputs = self.processor(text=[text], images=[request.image_rgb], return_tensors='pt',
                                **call_kwargs)
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                for k, v in inputs.items()}

    def _generate_kwargs(self, request: ReasonerRequest, opts: GenerationOptions,
                         inputs: dict[str, Any], n: int):
        kwargs: dict[str, Any] = dict(
            max_new_tokens=opts.max_new_tokens, do_sample=opts.do_sample,
            num_return_sequences=n, use_cache=True, eos_token_id=self.eos_token_ids,
            pad_token_id=self.pad_token_id, repetition_penalty=opts.repetition_penalty)
        if opts.do_sample:
            kwargs.update(temperature=opts.temperature, top_p=opts.top_p, top_k=opts.top_k)
        else:
            # Override a checkpoint's sampling defaults (the 7B-Instruct ships temperature 0.1,
            # top_p 0.001, top_k 1) with transformers' neutral values: greedy without warnings.
            kwargs.update(temperature=1.0, top_p=1.0, top_k=50)
        if opts.max_time_s is not None:
            kwargs['max_time'] = opts.max_time_s
        processor = None
        if opts.constrained:
            processor = self.constraints.processor(request.kind, opts.think_budget_tokens,
                                                   opts.max_new_tokens, opts.answer_regex,
                                                   think_budget_chars=opts.think_budget_chars)
            kwargs['logits_processor'] = [processor]
        else:
            # A sampled <|image_pad|> breaks the next forward pass; never emit vision tokens.
            kwargs['suppress_tokens'] = self._vision_token_ids
        return kwargs, processor

    def _run(self, request: ReasonerRequest, n: int, on_text: TextCallback | None,
             cancel: threading.Event | None) -> list[ReasonerOutput]:
        opts = request.generation or self.defaults
        with self._lock:
            t0 = time.perf_counter()
            inputs = self._encode(request, opts)
            kwargs, constraint = self._generate_kwargs(request, opts, inputs, n)
            streamer = None
            if on_text is not None:
                if n != 1:
                    raise ConfigError('streaming needs a single sequence (n=1)')
                streamer = _CallbackStreamer(self.tokenizer, on_text)
                kwargs['streamer'] = streamer
            if cancel is not None:
                kwargs['stopping_criteria'] = [_CancelCriteria(cancel)]
            if opts.seed is not None:
                torch.manual_seed(opts.seed)
            t1 = time.perf_counter()
            try:
                with torch.inference_mode():
                    sequences = self.model.generate(**inputs, **kwargs)
            except RobotR1Error:
                raise
            except Exception as exc:  # noqa: BLE001  (torch/CUDA errors of any type)
                raise GenerationError(f'{self.model_id}: generation failed: '
                                      f'{type(exc).__name__}: {exc}') from exc
            t2 = time.perf_counter()
            prompt_len = int(inputs['input_ids'].shape[1])
            image_tokens = int((inputs['input_ids'] == self.image_token_id).sum())
            new_ids = sequences[:, prompt_len:].tolist()
            outputs = []
            for row, ids in enumerate(new_ids):
                stop = next((k for k, t in enumerate(ids) if t in self.eos_token_ids), None)
                kept = ids if stop is None else ids[:stop + 1]
                completion = self.tokenizer.decode(kept, skip_special_tokens=True)
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelledError(partial_text=completion)
                if stop is not None:
                    finish = 'stop'
                elif opts.max_time_s is not None and t2 - t1 >= opts.max_time_s:
                    finish = 'time'
                else:
                    finish = 'length'
                fields = parse_output_fields(request.kind, completion)
                t3 = time.perf_counter()
                budget_hit = bool(constraint is not None and constraint.rows is not None
                                  and constraint.rows[row].budget_hit)
                outputs.append(ReasonerOutput(
                    kind=request.kind, completion=completion, finish_reason=finish,
                    think_budget_hit=budget_hit, prompt_tokens=prompt_len,
                    image_tokens=image_tokens, generated_tokens=len(kept),
                    timings=ReasonerTimings(t1 - t0, t2 - t1, t3 - t2, t3 - t0),
                    model_id=self.model_id, request_id=request.request_id, **fields))
            return outputs

    def predict(self, request: ReasonerRequest, *, on_text: TextCallback | None = None,
                cancel: threading.Event | None = None) -> ReasonerOutput:
        """See :meth:`Reasoner.predict`."""
        return self._run(request, 1, on_text, cancel)[0]

    def sample(self, request: ReasonerRequest, n: int,
               cancel: threading.Event | None = None) -> list[ReasonerOutput]:
        """``n`` completions of one request in one batched ``generate`` call
        (``num_return_sequences``; meant with ``do_sample=True``, e.g. for GRPO-style groups
        or self-consistency). Timings are those of the whole batch."""
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f'n must be an integer >= 1, got {n!r}')
        return self._run(request, n, None, cancel)

    def close(self) -> None:
        """Drop the model and free accelerator memory."""
        with self._lock:
            self.model = None  # type: ignore[assignment]
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
