"""Settings of the remote model backend: the reasoner behind an OpenAI-compatible server.

:class:`RemoteConfig` is the ``remote`` group of :class:`~robot_r1_ros.core.config.ReasonerConfig`
(the reasoning node's ``remote.*`` parameters), used when ``backend`` is ``'remote'``: the node
sends the same chat messages as the local path to ``base_url`` (vLLM, SGLang, TGI,
``transformers serve`` or the package's own ``robot_r1_ros.model.openai_server``).

The API key is never a setting: ``api_key_env`` names the environment variable that holds it.
"""
from __future__ import annotations

from dataclasses import dataclass

from robot_r1_ros.core.config_base import _check, _Config, _one_of

REMOTE_CONSTRAINTS = ('structured_outputs', 'guided_regex', 'none')
"""How the answer grammar travels with a request:

- ``structured_outputs``: ``{"structured_outputs": {"regex": ...}}`` (vLLM >= 0.12, and the
  package's own server);
- ``guided_regex``: ``{"guided_regex": ...}`` (vLLM < 0.12);
- ``none``: no constraint (servers without one); the local parser decides and a completion
  that does not parse is a FORMAT_ERROR, as with local unconstrained decoding.
"""

IMAGE_FORMATS = ('png', 'jpeg')
"""How the resized camera frame is encoded into its data URL (png: lossless, the same pixels
the local path sees; jpeg: smaller, lossy)."""


@dataclass(frozen=True)
class RemoteConfig(_Config):
    """Where and how to call an OpenAI-compatible chat-completions server.

    Attributes:
        base_url: The server's OpenAI API root, e.g. ``http://gpu-host:8000/v1``.
        model: The served model name; '' = the reasoner's ``model_id``.
        api_key_env: Name of the environment variable holding the API key; '' = no key.
        connect_timeout_s: TCP connect timeout [s].
        timeout_s: Whole-request deadline, streaming included [s]; a server that is silent
            this long, or not finished by then, is a failed prediction.
        retries: Further attempts after a failure before any text arrived (connection
            refused, timeout, HTTP 5xx/429); 0 = none.
        backoff_s: Wait before the first retry [s]; doubles per retry.
        backoff_max_s: Upper bound of one wait [s].
        constraint: One of :data:`REMOTE_CONSTRAINTS`.
        max_think_chars: Reasoning characters the regex allows (a regex counts characters,
            not tokens); 0 = 4 x ``generation.think_budget_tokens``. ``max_tokens`` is raised
            to hold this bound plus the longest answer, so a constrained answer is never cut.
        image_format: One of :data:`IMAGE_FORMATS`.
        jpeg_quality: 1-100, for ``image_format='jpeg'``.
    """

    _FIELD_PREFIX = 'remote.'

    base_url: str = 'http://127.0.0.1:8000/v1'
    model: str = ''
    api_key_env: str = ''
    connect_timeout_s: float = 2.0
    timeout_s: float = 30.0
    retries: int = 1
    backoff_s: float = 0.25
    backoff_max_s: float = 2.0
    constraint: str = 'structured_outputs'
    max_think_chars: int = 0
    image_format: str = 'png'
    jpeg_quality: int = 90

    def _validate(self) -> None:
        _check(self.base_url.startswith(('http://', 'https://')), 'base_url',
               f'must be an http:// or https:// URL, got {self.base_url!r}')
        _check(self.api_key_env == '' or self.api_key_env.replace('_', '').isalnum(),
               'api_key_env', 'must be the name of an environment variable (letters, digits, '
               f'_), got {self.api_key_env!r}')
        for name in ('connect_timeout_s', 'timeout_s'):
            _check(getattr(self, name) > 0, name, f'must be > 0, got {getattr(self, name)}')
        _check(self.retries >= 0, 'retries', f'must be >= 0, got {self.retries}')
        _check(self.backoff_s >= 0, 'backoff_s', f'must be >= 0, got {self.backoff_s}')
        _check(self.backoff_max_s >= self.backoff_s, 'backoff_max_s',
               f'must be >= backoff_s ({self.backoff_s}), got {self.backoff_max_s}')
        _one_of(self.constraint, REMOTE_CONSTRAINTS, 'constraint')
        _check(self.max_think_chars >= 0, 'max_think_chars',
               f'must be >= 0, got {self.max_think_chars}')
        _one_of(self.image_format, IMAGE_FORMATS, 'image_format')
        _check(1 <= self.jpeg_quality <= 100, 'jpeg_quality',
               f'must be in 1..100, got {self.jpeg_quality}')
