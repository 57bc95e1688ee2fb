# optimum-cli imports every module of the `optimum.commands.register` namespace and registers REGISTER_COMMANDS.
from optimum_hywia.commands.optimum_cli import HyWIACommand

REGISTER_COMMANDS = [HyWIACommand]
