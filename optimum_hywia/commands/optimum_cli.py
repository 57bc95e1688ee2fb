"""`optimum-cli hywia ...`: the same subcommands, registered through optimum's command namespace."""

from __future__ import annotations

from optimum.commands.base import BaseOptimumCLICommand, CommandInfo

from .cli import SUBCOMMANDS, run_reporting_errors


def _leaf_command(name: str) -> type[BaseOptimumCLICommand]:
    help_text, add_arguments, run = SUBCOMMANDS[name]

    class HyWIASubcommand(BaseOptimumCLICommand):
        COMMAND = CommandInfo(name=name, help=help_text)

        @staticmethod
        def parse_args(parser):
            add_arguments(parser)

        def run(self):
            run_reporting_errors(run, self.args, self.parser)

    HyWIASubcommand.__name__ = f"HyWIA{name.capitalize()}Command"
    return HyWIASubcommand


class HyWIACommand(BaseOptimumCLICommand):
    COMMAND = CommandInfo(name="hywia", help="Structured pruning of LLMs with HyWIA.")
    SUBCOMMANDS = tuple(
        CommandInfo(name=name, help=help_text, subcommand_class=_leaf_command(name))
        for name, (help_text, _, _) in SUBCOMMANDS.items()
    )
