"""What the CLI tests share: run a command in-process, check a one-line refusal."""

from click.testing import CliRunner

from tf_irgan.cli.main import cli


def run(args):
    """`tf-irgan ARGS` in-process; paths may be Path objects."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, *fragments):
    """Exit code 2 and a single `Error: ...` line on stderr holding every fragment."""
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
