"""Qwen2.5-VL / Qwen2-VL processor loading with or without torchvision.

The stock ``Qwen2_5_VLProcessor`` has three required parts: image processor, tokenizer and video
processor. The video processor needs torchvision, and PyPI's torchvision cannot be imported beside
the CPU torch wheel this project pins (``operator torchvision::nms does not exist``), so
``AutoProcessor.from_pretrained`` fails on every Qwen-VL checkpoint here. Worse, a processor
config naming a class ``AutoProcessor`` does not know makes it silently return only the tokenizer.

:func:`load_processor` is therefore the one entry point: where torchvision works it is the stock
``AutoProcessor``; elsewhere it builds the image-only subclasses below from the same files. Both
paths read a hub checkpoint's files unchanged (``preprocessor_config.json`` naming
``Qwen2_5_VLProcessor``, ``chat_template.json``, tokenizer files), so the 7B on a GPU robot and
the project's tiny checkpoint load the same way and give identical ``input_ids``/``pixel_values``.
Without torchvision the image processor falls back to its PIL backend (same numbers, about 2x
slower on a 640x480 image).
"""
from __future__ import annotations

import functools
import logging
from typing import Any

from transformers import Qwen2_5_VLProcessor, Qwen2VLProcessor
from transformers.utils import is_torchvision_available

from robot_r1_ros.model.errors import ModelLoadError

_LOG = logging.getLogger(__name__)


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without the video processor (which needs torchvision).

    Images and text behave exactly as in the stock processor; passing ``videos=`` fails.
    """

    def __init__(self, image_processor: Any = None, tokenizer: Any = None,
                 chat_template: str | None = None, **kwargs: Any) -> None:
        # ProcessorMixin pairs sub-processors with the parameters named in *this* signature
        # (image_processor, tokenizer), so no video processor is looked for or loaded.
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """Qwen2-VL processor without the video processor (which needs torchvision)."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None,
                 chat_template: str | None = None, **kwargs: Any) -> None:
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


#: model_type (config.json) -> image-only processor class used when torchvision is missing.
IMAGE_ONLY_PROCESSORS: dict[str, type] = {
    'qwen2_5_vl': Qwen2_5_VLImageOnlyProcessor,
    'qwen2_vl': Qwen2VLImageOnlyProcessor,
}


@functools.lru_cache(maxsize=1)
def torchvision_usable() -> bool:
    """True when torchvision imports cleanly (a broken CPU/CUDA mix raises at import)."""
    if not is_torchvision_available():
        return False
    try:
        import torchvision  # noqa: F401  (import side effects are the check)
    except Exception:  # noqa: BLE001  (any import failure means: do not use it)
        return False
    return True


def load_processor(model_id: str, *, model_type: str = 'qwen2_5_vl', min_pixels: int | None = None,
                   max_pixels: int | None = None, padding_side: str | None = None,
                   local_files_only: bool = False, revision: str | None = None) -> Any:
    """Load the processor of a Qwen2-VL / Qwen2.5-VL checkpoint (folder or hub id).

    Args:
        model_id: Local folder or hub id with the stock processor files.
        model_type: ``config.json``'s ``model_type``; picks the image-only class.
        min_pixels: Lower bound of the resized image area (pixels); None keeps the checkpoint's.
        max_pixels: Upper bound of the resized image area (pixels); None keeps the checkpoint's.
            The image is resized, keeping its aspect ratio, to sides that are multiples of 28 and
            an area within the bounds; image tokens = area / 784.
        padding_side: ``'left'`` for batched generation; None keeps the tokenizer's.
        local_files_only: Never contact the hub.
        revision: Hub revision; None for the default branch.

    Returns:
        A processor whose ``__call__(text=..., images=...)`` and ``apply_chat_template`` behave
        as the stock ``Qwen2_5_VLProcessor``'s.

    Raises:
        ModelLoadError: Unsupported model type, or the files could not be read.
    """
    kwargs: dict[str, Any] = {'local_files_only': local_files_only}
    if revision is not None:
        kwargs['revision'] = revision
    if padding_side is not None:
        kwargs['padding_side'] = padding_side
    if torchvision_usable():
        from transformers import AutoProcessor
        cls: Any = AutoProcessor
    else:
        cls = IMAGE_ONLY_PROCESSORS.get(model_type)
        if cls is None:
            raise ModelLoadError(
                f'no image-only processor for model_type {model_type!r} (torchvision is not '
                f'usable here); supported: {", ".join(sorted(IMAGE_ONLY_PROCESSORS))}', model_id)
    try:
        processor = cls.from_pretrained(model_id, **kwargs)
    except Exception as exc:  # noqa: BLE001  (any failure here means: no processor)
        raise ModelLoadError(f'cannot load the processor of {model_id!r}: '
                             f'{type(exc).__name__}: {exc}', model_id) from exc
    if not hasattr(processor, 'image_processor') or not hasattr(processor, 'tokenizer'):
        # AutoProcessor returns a bare tokenizer when the processor class is unknown to it.
        raise ModelLoadError(
            f'{model_id!r} did not load as a vision-language processor (got '
            f'{type(processor).__name__}); check preprocessor_config.json', model_id)
    if min_pixels is not None or max_pixels is not None:
        set_pixel_bounds(processor, min_pixels, max_pixels)
    if processor.chat_template is None:
        raise ModelLoadError(f'{model_id!r} has no chat template (chat_template.json or '
                             'chat_template.jinja)', model_id)
    _LOG.debug('loaded %s for %s', type(processor).__name__, model_id)
    return processor


def set_pixel_bounds(processor: Any, min_pixels: int | None, max_pixels: int | None) -> None:
    """Set the resized-image area bounds of a loaded processor (None keeps a bound).

    Equivalent to the checkpoint's ``min_pixels``/``max_pixels`` (which transformers maps onto
    ``size``), without the deprecated per-call keyword arguments.
    """
    from transformers.image_utils import SizeDict

    ip = processor.image_processor
    size = ip.size
    shortest = int(min_pixels) if min_pixels is not None else size.shortest_edge
    longest = int(max_pixels) if max_pixels is not None else size.longest_edge
    if shortest > longest:
        raise ModelLoadError(f'min_pixels ({shortest}) must be <= max_pixels ({longest})')
    ip.size = SizeDict(shortest_edge=shortest, longest_edge=longest)
