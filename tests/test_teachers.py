"""Teachers: batch shapes and dtypes, determinism within an episode, save and load; the
generator against a plain reference."""

import pytest
import torch
import torch.nn.functional as F

from gtnas.errors import GtnasError
from gtnas.teachers import TEACHERS, Generator, GeneratorConfig, TeacherConfig, create_teacher
from gtnas.teachers.store import TeacherInfo, load_teacher, save_teacher

SHAPE, CLASSES = (1, 8, 8), 4
CONFIG = TeacherConfig(
    inner_steps=3,
    batch_size=8,
    generator=GeneratorConfig(noise_dim=6, hidden=12, channels=4, mid_channels=3),
)
REAL_X = torch.randn(50, *SHAPE)
REAL_Y = torch.arange(50) % CLASSES


def build(name: str, config: TeacherConfig = CONFIG, seed: int = 0):
    return create_teacher(
        name, config, SHAPE, CLASSES, real_images=REAL_X, real_labels=REAL_Y,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip


@pytest.mark.parametrize("name", TEACHERS.names())
@pytest.mark.parametrize("soft", [False, True])
def test_batches_have_the_right_shape_and_dtype(name, soft):
    teacher = build(name, TeacherConfig(**{**CONFIG.__dict__, "soft_labels": soft}))
    teacher.begin_episode(torch.Generator().manual_seed(1))
    for step in range(teacher.inner_steps):
        x, y = teacher.batch(step)
        assert x.shape == (8, *SHAPE) and x.dtype == torch.float32
        assert torch.isfinite(x).all()
        if y.dim() == 1:
            assert y.dtype == torch.int64 and y.shape == (8,) and 0 <= y.min() <= y.max() < CLASSES
        else:  # soft labels: a distribution per sample, peaked on the fixed label
            assert y.shape == (8, CLASSES)
            torch.testing.assert_close(y.sum(1), torch.ones(8))
            assert (y.argmax(1) == torch.arange(8) % CLASSES).all()


@pytest.mark.parametrize("name", TEACHERS.names())
def test_a_batch_is_fixed_within_an_episode_and_seeded(name):
    a, b = build(name), build(name)
    a.begin_episode(torch.Generator().manual_seed(7))
    b.begin_episode(torch.Generator().manual_seed(7))
    for step in range(3):
        torch.testing.assert_close(a.batch(step), b.batch(step))
        torch.testing.assert_close(a.batch(step), a.batch(step))


def test_curriculum_labels_are_class_balanced_and_fixed_while_others_draw_fresh_noise():
    gtn = build("gtn")
    nocurriculum = build("gtn-nocurriculum")
    outputs = []
    for seed in (1, 2):
        gtn.begin_episode(torch.Generator().manual_seed(seed))
        nocurriculum.begin_episode(torch.Generator().manual_seed(seed))
        outputs.append((gtn.batch(0), nocurriculum.batch(0)))
    (g1, n1), (g2, n2) = outputs
    torch.testing.assert_close(g1, g2)  # the curriculum is learned, not sampled
    assert not torch.equal(n1[0], n2[0])  # fresh noise every episode
    assert torch.bincount(g1[1], minlength=CLASSES).tolist() == [2, 2, 2, 2]


def test_real_teacher_draws_without_replacement_within_an_episode():
    teacher = build("real", TeacherConfig(inner_steps=5, batch_size=10))
    teacher.begin_episode(torch.Generator().manual_seed(0))
    seen = torch.cat([teacher.batch(t)[0].flatten(1) for t in range(5)])
    assert torch.unique(seen, dim=0).shape[0] == 50


def test_schedule_can_be_frozen():
    teacher = build("gtn", TeacherConfig(**{**CONFIG.__dict__, "learn_schedule": False}))
    names = [n for n, p in teacher.named_parameters() if p.requires_grad]
    assert not any(n.startswith("optimizer.") for n in names) and names
    lrs, momenta = teacher.optimizer.schedule()
    assert lrs == pytest.approx([CONFIG.lr] * 3) and momenta == pytest.approx([CONFIG.momentum] * 3)


@pytest.mark.parametrize("name", ["gtn", "pixels", "gtn-nocurriculum"])
def test_save_and_load_round_trip(tmp_path, name):
    teacher = build(name, seed=3)
    info = TeacherInfo(name, CONFIG, "toy", SHAPE, CLASSES, (0.5,), (0.25,), ("a", "b", "c", "d"))
    save_teacher(tmp_path, teacher, info)
    loaded, loaded_info = load_teacher(tmp_path)
    assert loaded_info == info
    for (ka, va), (kb, vb) in zip(
        teacher.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb)


def test_loading_a_broken_teacher_is_a_clear_error(tmp_path):
    with pytest.raises(GtnasError, match="no trained teacher"):
        load_teacher(tmp_path)
    info = TeacherInfo("gtn", CONFIG, "toy", SHAPE, CLASSES, (0.5,), (0.25,))
    save_teacher(tmp_path, build("gtn"), info)
    (tmp_path / "teacher.safetensors").write_bytes(b"garbage")
    with pytest.raises(GtnasError, match="corrupt"):
        load_teacher(tmp_path)


def test_pixel_batches_follow_the_images_through_steps_and_copies():
    """The episode's unbound views give the images' own gradient, and are not used once the
    images change in place (a meta-optimiser step) or the teacher is copied."""
    import copy
    import pickle

    teacher = build("pixels")
    teacher.begin_episode(torch.Generator().manual_seed(1))
    weights = torch.randn(CONFIG.inner_steps, *teacher.images.shape[1:])
    loss = sum((teacher.batch(t)[0] * weights[t]).sum() for t in range(CONFIG.inner_steps))
    (grad,) = torch.autograd.grad(loss, teacher.images)
    torch.testing.assert_close(grad, weights)  # d loss / d images[t] = weights[t], stacked
    with torch.no_grad():
        teacher.images.add_(1.0)  # an optimiser step, without a new episode
    torch.testing.assert_close(teacher.batch(1)[0], teacher.images[1])
    teacher.begin_episode(torch.Generator().manual_seed(1))
    for clone in (copy.deepcopy(teacher), pickle.loads(pickle.dumps(teacher))):
        torch.testing.assert_close(clone.batch(2)[0], teacher.images[2])


def _reference_generator(gen, noise, labels):
    """The generator written out in NCHW with torch's own ops, from its (v, g) weights."""

    def wn(layer):
        norm = layer.v.flatten(1).norm(dim=1).view(-1, *([1] * (layer.v.dim() - 1)))
        return layer.v * layer.g.view_as(norm) / norm

    def bn(h):  # batch statistics, no affine change at initialisation (weight 1, bias 0)
        dims = [0, *range(2, h.dim())]
        mean, var = h.mean(dims, keepdim=True), h.var(dims, unbiased=False, keepdim=True)
        return (h - mean) / torch.sqrt(var + 1e-5)

    fc1, fc2 = gen.fc[0], gen.fc[3]
    h = torch.cat([noise, F.one_hot(labels, gen.num_classes).float()], dim=1)
    h = F.leaky_relu(bn(h @ wn(fc1).T), 0.1)
    h = F.leaky_relu(bn(h @ wn(fc2).T), 0.1).view(-1, *gen.base)
    h = F.pad(F.interpolate(h, scale_factor=2.0), (1, 1, 1, 1), mode="reflect")
    h = F.leaky_relu(bn(F.conv2d(h, wn(gen.conv1))), 0.1)
    h = F.pad(F.interpolate(h, scale_factor=2.0), (1, 1, 1, 1), mode="reflect")
    return torch.tanh(F.conv2d(h, wn(gen.conv2), gen.conv2.bias)) * gen.config.output_scale


def test_generator_matches_a_plain_nchw_reference_and_its_gradients():
    # The generator runs its feature maps channels_last; the numbers and the gradients for the
    # noise (the curriculum's) must be those of the plain computation.
    torch.manual_seed(0)
    gen = Generator(
        (1, 12, 12), 5, GeneratorConfig(noise_dim=6, hidden=16, channels=8, mid_channels=4)
    )
    gen.reset_parameters(torch.Generator().manual_seed(3))
    noise = torch.randn(10, 6, requires_grad=True)
    labels = torch.arange(10) % 5
    weights = torch.randn(10, 1, 12, 12)
    out = gen(noise, labels)
    ref = _reference_generator(gen, noise, labels)
    assert out.shape == (10, 1, 12, 12)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    (grad,) = torch.autograd.grad((out * weights).sum(), noise)
    (ref_grad,) = torch.autograd.grad((ref * weights).sum(), noise)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)
