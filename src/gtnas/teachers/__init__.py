"""Teachers: things that produce the training batches of a fresh learner.

All teachers share one interface (:class:`Teacher`): ``begin_episode(generator)`` draws whatever
randomness one inner training run needs, ``batch(step)`` returns that step's ``(x, targets)``,
and the teacher's ``parameters()`` are its meta-parameters, including the per-step learning
rate and momentum of the inner SGD (:class:`InnerOptimizer`).

Registered teachers: ``gtn`` (generator + learned curriculum), ``gtn-nocurriculum`` (generator
fed fresh noise and random labels), ``pixels`` (the synthetic images themselves are learned,
i.e. dataset distillation) and ``real`` (real training batches).
"""

from gtnas.teachers.base import TEACHERS, Teacher, TeacherConfig, create_teacher
from gtnas.teachers.curriculum import CurriculumTeacher, NoCurriculumTeacher
from gtnas.teachers.generator import Generator, GeneratorConfig
from gtnas.teachers.inner_optimizer import InnerOptimizer
from gtnas.teachers.pixels import PixelTeacher
from gtnas.teachers.real import RealDataTeacher

__all__ = [
    "TEACHERS",
    "CurriculumTeacher",
    "Generator",
    "GeneratorConfig",
    "InnerOptimizer",
    "NoCurriculumTeacher",
    "PixelTeacher",
    "RealDataTeacher",
    "Teacher",
    "TeacherConfig",
    "create_teacher",
]
