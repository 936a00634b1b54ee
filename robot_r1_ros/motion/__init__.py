"""Motion layer: turn a validated keypoint into arm motion (no rclpy at import time).

- :mod:`.types` plain goal / progress / trajectory data;
- :mod:`.validation` the checks every prediction passes before anything moves;
- :mod:`.executor` one-goal-at-a-time execution with preempt / wait and counts;
- :mod:`.backend` the backend interface; :mod:`.direct` IK + timed ``JointTrajectory``;
  :mod:`.moveit_backend` MoveIt 2 through moveit_py (imported lazily);
- :mod:`.timing`, :mod:`.limits` time parameterisation and the Panda's limits.
"""
from robot_r1_ros.motion.backend import MotionBackend, MotionError
from robot_r1_ros.motion.executor import (ExecState, ExecutionConfig, ExecutorSnapshot,
                                          GoalExecutor, NewGoalPolicy)
from robot_r1_ros.motion.types import (GripperCommandData, JointStateSample, JointTrajectoryData,
                                       MotionGoal, MotionProgress, MotionState)
from robot_r1_ros.motion.validation import (PredictionInput, RejectCode, Rejection,
                                            RejectionCounter, ValidationConfig,
                                            validate_prediction)

__all__ = [
    'ExecState', 'ExecutionConfig', 'ExecutorSnapshot', 'GoalExecutor', 'GripperCommandData',
    'JointStateSample', 'JointTrajectoryData', 'MotionBackend', 'MotionError', 'MotionGoal',
    'MotionProgress', 'MotionState', 'NewGoalPolicy', 'PredictionInput', 'RejectCode',
    'Rejection', 'RejectionCounter', 'ValidationConfig', 'validate_prediction',
]
