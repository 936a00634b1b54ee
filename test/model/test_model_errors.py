"""Typed errors of the transformers backend: loading and generation failures."""
from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.model import GenerationError, ModelLoadError, ReasonerConfig, load_reasoner


def _copy(src, dst, skip=()):
    dst.mkdir()
    for path in src.iterdir():
        if path.name not in skip:
            shutil.copy(path, dst / path.name)
    return dst


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match='not found') as info:
        load_reasoner(str(tmp_path / 'nowhere'))
    assert isinstance(info.value, RobotR1Error) and info.value.model_id.endswith('nowhere')


def test_missing_default_checkpoint_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'models').mkdir()
    with pytest.raises(ModelLoadError, match='build_tiny'):
        load_reasoner('models/tiny-not-built-yet')


def test_non_safetensors_weights_are_refused(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path / 'pickled', skip={'model.safetensors'})
    (folder / 'pytorch_model.bin').write_bytes(b'not loaded: pickles can run code')
    with pytest.raises(ModelLoadError, match='non-safetensors'):
        load_reasoner(str(folder))


def test_folder_without_weights_or_config(tiny_checkpoint, tmp_path):
    with pytest.raises(ModelLoadError, match='no \\*.safetensors'):
        load_reasoner(str(_copy(tiny_checkpoint, tmp_path / 'a', skip={'model.safetensors'})))
    with pytest.raises(ModelLoadError, match='no config.json'):
        load_reasoner(str(_copy(tiny_checkpoint, tmp_path / 'b', skip={'config.json'})))


def test_corrupt_weights(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path / 'corrupt')
    (folder / 'model.safetensors').write_bytes(b'\x00' * 64)
    with pytest.raises(ModelLoadError, match='cannot load'):
        load_reasoner({'model_id': str(folder), 'device': 'cpu'})


def test_unsupported_architecture(tiny_checkpoint, tmp_path):
    folder = _copy(tiny_checkpoint, tmp_path / 'llama')
    (folder / 'config.json').write_text(json.dumps({'model_type': 'llama'}))
    with pytest.raises(ModelLoadError, match="'llama' model; supported: qwen2_5_vl, qwen2_vl"):
        load_reasoner(str(folder))


def test_hub_id_without_network_or_cache():
    # The production id goes through the same path; offline and uncached it fails clearly.
    with pytest.raises(ModelLoadError, match='Qwen/Qwen2.5-VL-7B-Instruct'):
        load_reasoner({'model_id': 'Qwen/Qwen2.5-VL-7B-Instruct', 'local_files_only': True})


def test_gpu_only_options_fail_clearly_on_cpu(tiny_checkpoint, torch_one_thread):
    if torch_one_thread.cuda.is_available():
        pytest.skip('a GPU is present: these options are valid here')
    with pytest.raises(ModelLoadError, match='flash-attn'):
        load_reasoner({'model_id': str(tiny_checkpoint),
                       'attn_implementation': 'flash_attention_2'})
    with pytest.raises(ModelLoadError, match='CUDA is not available'):
        load_reasoner({'model_id': str(tiny_checkpoint), 'device': 'cuda'})


def test_4bit_without_bitsandbytes(tiny_checkpoint):
    if importlib.util.find_spec('bitsandbytes') is not None:
        pytest.skip('bitsandbytes is installed')
    with pytest.raises(ModelLoadError, match='bitsandbytes'):
        load_reasoner(ReasonerConfig(model_id=str(tiny_checkpoint), load_in_4bit=True))


def test_model_exception_becomes_generation_error(tiny_reasoner, make_request, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')

    monkeypatch.setattr(tiny_reasoner.model, 'generate', out_of_memory)
    with pytest.raises(GenerationError, match='out of memory'):
        tiny_reasoner.predict(make_request(TaskKind.OPEN_KEYPOINT))
    monkeypatch.undo()
    assert tiny_reasoner.predict(make_request(TaskKind.OPEN_KEYPOINT)).ok


def test_sample_needs_a_positive_count(tiny_reasoner, make_request):
    with pytest.raises(ConfigError):
        tiny_reasoner.sample(make_request(TaskKind.OPEN_KEYPOINT), 0)
