#pragma once
// Parsing an experiment program's command line strictly: CLI11 with two additions.
//   - An option given twice is refused. CLI11 appends the values of a repeated list option
//     (`--datasets a --datasets b` would run both) and its policy for scalars varies; a repeat is far
//     more often a mistake (an edited command line, a flag pasted twice) than a wish.
//   - An error caused by a line of the --config file names the file and the line, which CLI11's
//     messages ("Could not convert: --particles = abc") do not.
// Unknown keys in a config file are refused by CLI::App::allow_config_extras(false) (set by Experiment).
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "run_main.hpp"

namespace wgflow::experiments {

namespace detail {

// The --config file named on the command line, or "".
std::string config_file(const std::vector<std::string>& args);

// " (<file>, line N)" for the line of `file` that `message` is about, if one is; else " (in <file>)" when
// the error is the config file's for sure, else "".
std::string config_location(const std::string& file, const std::string& message, bool config_error,
                            const std::vector<std::string>& args);

}  // namespace detail

// Parses argv into `app`. Returns -1 to go on, or 0 after --help (printed on stdout, by rank 0 alone
// under mpirun). Throws UsageError with a one-line message for anything else. Compiled into libwgflow
// (command_line.cpp), as is the rest of the harness that does not depend on a program's types.
int parse_command_line(CLI::App& app, int argc, char** argv);

}  // namespace wgflow::experiments
