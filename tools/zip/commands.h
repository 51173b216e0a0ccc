// The zip subcommands. Each parses its own arguments and returns the process exit code;
// errors are thrown (zip::UsageError → exit 2, zip::Error → exit 1) and printed by main.
#pragma once

namespace zip::cli {

int cmd_convert(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_slice(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace zip::cli
