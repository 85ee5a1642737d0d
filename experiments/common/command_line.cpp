// The strict command line of the experiment programs (command_line.hpp).
#include "command_line.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>

#include "ranks.hpp"
#include "run_main.hpp"

namespace wgflow::experiments {

namespace detail {

namespace {
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\"'");
  const auto e = s.find_last_not_of(" \t\r\"'");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}
}  // namespace

std::string config_file(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) return args[i].substr(9);
  }
  return "";
}

std::string config_location(const std::string& file, const std::string& message, bool config_error,
                            const std::vector<std::string>& args) {
  if (file.empty()) return "";
  std::ifstream in(file, std::ios::binary);
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const std::string key = trim(line.substr(0, line.find('=')));
    if (key.empty() || key[0] == '#' || key[0] == ';') continue;
    bool on_command_line = false;  // a flag given on the command line overrides the file's line
    for (const std::string& a : args) on_command_line = on_command_line || a == "--" + key || a.rfind("--" + key + "=", 0) == 0;
    if (on_command_line) continue;
    const std::string unparsed = "parse " + key;  // CLI11's "INI was not able to parse <key>" ends the message
    bool about = message.size() >= unparsed.size() &&
                 message.compare(message.size() - unparsed.size(), unparsed.size(), unparsed) == 0;
    for (const std::string& needle : {"--" + key + ":", "--" + key + " ", "--" + key + ","})
      about = about || message.find(needle) != std::string::npos;
    if (about) return " (" + file + ", line " + std::to_string(number) + ")";
  }
  return config_error ? " (in " + file + ")" : "";
}

}  // namespace detail

int parse_command_line(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, int> given;
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a.rfind("--", 0) == 0) ++given[a.substr(0, a.find('='))];
  }
  for (const CLI::Option* opt : app.get_options())
    for (const std::string& name : opt->get_lnames())
      if (given["--" + name] > 1)
        throw UsageError("--" + name + " is given " + std::to_string(given["--" + name]) +
                         " times; give it once (a list as one comma- or space-separated value)");
  // CLI11 calls a folder given as the config file "not readable (missing?)".
  if (const std::string file = detail::config_file(args); !file.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) throw UsageError("--config " + file + " is a folder, not a config file");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {  // under mpirun, rank 0 alone prints it
    return launched_rank() == 0 ? app.exit(e) : 0;
  } catch (const CLI::CallForAllHelp& e) {
    return launched_rank() == 0 ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    const std::string message = e.what();
    const bool config_error = dynamic_cast<const CLI::ConfigError*>(&e) != nullptr;
    const std::string where = detail::config_location(detail::config_file(args), message, config_error, args);
    // CLI11 says "INI was not able to parse <line>" for an unknown key and for a line that is no
    // "key = value" at all; the line may be binary garbage, quoted here short and in ASCII.
    const std::string prefix = "INI was not able to parse ";
    if (config_error && message.rfind(prefix, 0) == 0) {
      std::string line = message.substr(prefix.size(), 40);
      for (char& c : line)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
      throw UsageError("config file: unknown option or not a 'key = value' line: '" + line + "'" + where);
    }
    throw UsageError(message + where + "; see --help");
  }
  return -1;
}

}  // namespace wgflow::experiments
