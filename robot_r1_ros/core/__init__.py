"""The ROS-free core of robot_r1_ros: the paper's method, written once.

Prompts, the answer grammar (parsing), rewards, keyframes, QA building, geometry (frames,
workspace, Panda forward kinematics, projection) and validated configuration. Imports only the
standard library and numpy, so the reasoning node, training and evaluation share it exactly.

Submodules: ``errors``, ``types``, ``geometry``, ``prompts``, ``parsing``, ``movement``,
``rewards``, ``keyframes``, ``qa``, ``config``.
"""
from robot_r1_ros.core.errors import (AnswerFormatError, BadInputError, ConfigError,
                                      OutOfWorkspaceError, RobotR1Error)
from robot_r1_ros.core.types import (GripperState, Keypoint, Prediction, QASample, RobotState,
                                     TaskKind)

__all__ = [
    'AnswerFormatError', 'BadInputError', 'ConfigError', 'GripperState', 'Keypoint',
    'OutOfWorkspaceError', 'Prediction', 'QASample', 'RobotR1Error', 'RobotState', 'TaskKind',
]
