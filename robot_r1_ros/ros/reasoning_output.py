"""What the reasoning node publishes per attempt: ``next_keypoint`` (every status),
``next_keypoint_pose`` (OK only), ``markers`` and the annotated ``debug_image``.

:class:`PredictionPublisher` owns the four lifecycle publishers; :func:`prediction_msg` builds
the ``KeypointPrediction`` of an attempt and :func:`debug_frame` draws the debug image (status,
keypoint, reasoning excerpt, current TCP and keypoint projected into the frame).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from robot_r1_ros.core.geometry import project_points
from robot_r1_ros.core.status import PredictionStatus
from robot_r1_ros.msg import KeypointPrediction
from robot_r1_ros.ros import conversions as conv
from robot_r1_ros.ros.names import status_name
from robot_r1_ros.ros.reasoning_inputs import Attempt, stamp_ns


def prediction_msg(header: Header, status: int, reason: str, ctx: Attempt) -> KeypointPrediction:
    """The ``KeypointPrediction`` of one attempt."""
    output = ctx.output
    return conv.keypoint_prediction_msg(
        header, status, status_reason=reason, keypoint=ctx.keypoint,
        tcp_quat_xyzw=ctx.tcp_quat_xyzw, current_xyz_base_m=ctx.current_xyz_base_m,
        task=ctx.task, reasoning=output.reasoning if output is not None else '',
        raw_answer=output.completion if output is not None else '',
        model_id=ctx.model_id, inference_time_s=ctx.inference_s,
        generated_tokens=output.generated_tokens if output is not None else 0)


def diagnostics_msg(name: str, level: str, message: str, values: dict[str, str],
                    stamp: Any) -> DiagnosticArray:
    """A ``/diagnostics`` array with one status (``level``: 'OK', 'WARN' or 'ERROR')."""
    status = DiagnosticStatus(level=getattr(DiagnosticStatus, level), name=name,
                              message=message[:500], hardware_id=values.get('model_id', ''),
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status.append(status)
    return array


def debug_frame(cfg: Any, ctx: Attempt, status: int, reason: str, k: np.ndarray | None,
                info_size: tuple[int, int] | None) -> np.ndarray:
    """The camera frame annotated with the attempt (``ctx.rgb`` must be set)."""
    rgb = ctx.rgb
    lines = [f'{status_name(status)}  task: {ctx.task}']
    points: list[Any] = []
    colors: list[tuple[int, int, int]] = []
    if ctx.keypoint is not None:
        x, y, z = ctx.keypoint.xyz_base_m
        lines.append(f'keypoint [{x:.3f}, {y:.3f}, {z:.3f}] {ctx.keypoint.gripper.value} '
                     f'({cfg.base_frame})')
    if reason:
        lines.append(reason)
    reasoning = ctx.output.reasoning if ctx.output is not None else ''
    if reasoning and cfg.reasoning_chars:
        excerpt = ' '.join(reasoning.split())[:cfg.reasoning_chars]
        width = max(16, rgb.shape[1] // 6)
        lines.extend(excerpt[i:i + width] for i in range(0, len(excerpt), width))
    size_ok = (info_size is None or info_size == (rgb.shape[1], rgb.shape[0])
               or info_size == (0, 0))
    if k is not None and cfg.T_base_cam is not None and size_ok:
        targets = [ctx.current_xyz_base_m]
        colors.append((60, 120, 255))
        if ctx.keypoint is not None:
            targets.append(ctx.keypoint.xyz_base_m)
            colors.append((40, 220, 60) if status == PredictionStatus.OK else (230, 40, 40))
        uv, depth = project_points(np.asarray(targets, dtype=float), k,
                                   np.asarray(cfg.T_base_cam))
        points = [tuple(p) if d > 0 else None for p, d in zip(uv, depth)]
    return conv.debug_image(rgb, lines, points, colors)


class PredictionPublisher:
    """The node's per-attempt publishers (lifecycle: they publish only while active)."""

    def __init__(self, node: Any, reliable_qos: Any, debug_image_qos: Any) -> None:
        self.keypoint = node.create_lifecycle_publisher(KeypointPrediction, 'next_keypoint',
                                                        reliable_qos)
        self.pose = node.create_lifecycle_publisher(PoseStamped, 'next_keypoint_pose',
                                                    reliable_qos)
        self.markers = node.create_lifecycle_publisher(MarkerArray, 'markers', reliable_qos)
        self.debug = node.create_lifecycle_publisher(Image, 'debug_image', debug_image_qos)
        self.all = (self.keypoint, self.pose, self.markers, self.debug)

    def publish(self, cfg: Any, header: Header, msg: KeypointPrediction, reason: str,
                ctx: Attempt, t_start_ns: int | None, now_ns: Callable[[], int],
                camera: tuple[np.ndarray | None, tuple[int, int] | None]) -> None:
        """Publish one attempt; its publish / end-to-end / debug timings go to ctx.stage_ms.

        Args:
            cfg: The node's config.
            header: Stamp of the image used, base frame.
            msg: The attempt's ``KeypointPrediction``.
            reason: Its status reason.
            ctx: The attempt.
            t_start_ns: Prediction start (None: no end-to-end timing, e.g. rejected inputs).
            now_ns: The node clock.
            camera: Intrinsics and image size from ``camera_info`` (for the debug image).
        """
        t0 = time.perf_counter()
        status = msg.status
        ok = status == PredictionStatus.OK
        self.keypoint.publish(msg)
        t_pub_ns = now_ns()
        if ok and ctx.keypoint is not None:
            self.pose.publish(conv.keypoint_pose_msg(
                header, ctx.keypoint.xyz_base_m, ctx.tcp_quat_xyzw or (0.0, 0.0, 0.0, 1.0)))
        if ctx.current_xyz_base_m is not None:
            label = (f'{status_name(status)} {ctx.keypoint.gripper.value}'
                     if ctx.keypoint is not None else status_name(status))
            self.markers.publish(conv.keypoint_markers(
                header, ctx.current_xyz_base_m, ctx.keypoint, ok, text=label,
                lifetime_s=cfg.marker_lifetime_s))
        ctx.stage_ms['publish'] = (time.perf_counter() - t0) * 1e3
        image_ns = stamp_ns(header.stamp)
        if image_ns and t_start_ns is not None:
            e2e_ms = (t_pub_ns - image_ns) * 1e-6
            ctx.stage_ms['end_to_end'] = e2e_ms
            if 'model' in ctx.stage_ms:
                ctx.stage_ms['model_call'] = ctx.inference_s * 1e3
                ctx.stage_ms['overhead'] = e2e_ms - ctx.inference_s * 1e3
                ctx.stage_ms['overhead_vs_generate'] = e2e_ms - ctx.stage_ms['model']
        # drawing a 640x480 frame costs milliseconds: only when someone listens
        if cfg.debug_image and ctx.rgb is not None and self.debug.get_subscription_count() > 0:
            t1 = time.perf_counter()
            frame = debug_frame(cfg, ctx, status, reason, *camera)
            self.debug.publish(conv.array_to_image_msg(frame, 'rgb8', ctx.image_header))
            ctx.stage_ms['debug_image'] = (time.perf_counter() - t1) * 1e3
