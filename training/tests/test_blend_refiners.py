import pytest
import torch

from blend_refiners import BlendError, blend_states


def test_blend_is_the_straight_line_between_the_two():
    first = {'w': torch.zeros(2, 3), 'b': torch.tensor([1.0, -1.0]), 'n': torch.tensor(7)}
    second = {'w': torch.ones(2, 3), 'b': torch.tensor([3.0, 1.0]), 'n': torch.tensor(7)}
    mid = blend_states(first, second, 0.25)
    assert torch.allclose(mid['w'], torch.full((2, 3), 0.25))
    assert torch.allclose(mid['b'], torch.tensor([1.5, -0.5]))
    assert mid['n'].item() == 7
    assert torch.equal(blend_states(first, second, 0.0)['b'], first['b'])
    assert torch.equal(blend_states(first, second, 1.0)['b'], second['b'])


@pytest.mark.parametrize('second, message', [
    ({'w': torch.ones(2, 3)}, 'differ in their weights'),
    ({'w': torch.ones(3, 3), 'n': torch.tensor(7)}, 'shapes'),
    ({'w': torch.ones(2, 3), 'n': torch.tensor(8)}, 'not a float tensor'),
])
def test_networks_that_do_not_match_are_refused(second, message):
    first = {'w': torch.zeros(2, 3), 'n': torch.tensor(7)}
    with pytest.raises(BlendError, match=message):
        blend_states(first, second, 0.5)


def test_a_share_outside_0_to_1_is_refused():
    with pytest.raises(BlendError, match='0…1'):
        blend_states({'w': torch.zeros(1)}, {'w': torch.ones(1)}, 1.5)
