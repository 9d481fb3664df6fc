"""What a widget leaves in a saved notebook: a sentence for readers without a kernel, not a repr."""

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display
from IPython.utils.capture import capture_output

from tipslib.widgets.augment_explorer import AugmentExplorer
from tipslib.widgets.dropout import DropoutExplorer
from tipslib.widgets.step_size import StepSizeExplorer


@pytest.mark.parametrize("cls", [AugmentExplorer, DropoutExplorer, StepSizeExplorer])
def test_displayed_widget_has_a_readable_text_fallback(cls):
    InteractiveShell.instance()
    with capture_output() as captured:
        display(cls())
    (output,) = captured.outputs
    assert "application/vnd.jupyter.widget-view+json" in output.data
    text = output.data["text/plain"]
    assert text.startswith(cls.__name__) and "JupyterLab" in text
    assert "VBox" not in text and "children" not in text
