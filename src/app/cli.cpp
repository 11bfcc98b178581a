// Command-line parsing and the one-line (--preset) mode.
#include "app/cli.h"

#include <cstring>

namespace udpx {
namespace {

std::string tomlString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // no control characters in flags
    out += c;
  }
  return out + "\"";
}

std::string tomlArray(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + tomlString(v[i]);
  return out + "]";
}

// A file descriptor number as written on the command line: digits only, 0..INT_MAX.
std::optional<int> parseFd(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoi(s);
}

}  // namespace

const char* usageText() {
  return "usage:\n"
         "  udpx [-c FILE] [--log-level LEVEL]     run the proxy (default config /etc/udpx/udpx.toml)\n"
         "  udpx check [-c FILE]                   validate a config: prints 'configuration OK' or every error\n"
         "  udpx status [-c FILE] [--json]         what the udpx running with FILE is doing, what is wrong and how\n"
         "                                         to fix it; any user may ask. Exit 0 all well, 1 something is down\n"
         "                                         or wrong, 2 udpx not reachable. --socket NAME: ask that socket\n"
         "  udpx reload [-c FILE]                  make the udpx running with FILE read it again and apply it in\n"
         "                                         place (root or udpx's own user only; like SIGHUP); prints what\n"
         "                                         changed or every error. Exit 0 applied, 1 refused, 2 not reachable\n"
         "  udpx --preset ntp|dns|syslog|raw --listen ADDR:PORT --upstream HOST[:PORT] [options]\n"
         "                                         run one frontend without a config file; options:\n"
         "      --listen ADDR:PORT     listen address, repeatable ([::]:123 for IPv6)\n"
         "      --upstream HOST[:PORT] upstream server, repeatable (port defaults to the preset's)\n"
         "      --allow CIDR           allowed clients, repeatable (default: loopback and private ranges)\n"
         "      --timeout DURATION     idle session timeout, e.g. 2s, 250ms (default: the preset's)\n"
         "      --responses N          replies per request, 0 (one-way) or 'unlimited'\n"
         "      --balance MODE         round-robin (default) or first\n"
         "  --listen-fd FRONTEND=N                 use the inherited, bound UDP socket N for FRONTEND (repeatable;\n"
         "                                         systemd socket activation via LISTEN_FDS needs no flag)\n"
         "  udpx --help | --version\n"
         "\n"
         "example, replacing `socat UDP4-RECVFROM:123,fork UDP-SENDTO:192.168.1.1:123`:\n"
         "  udpx --preset ntp --listen 192.168.0.1:123 --upstream 192.168.1.1\n"
         "started as root, udpx binds its ports, then serves from an unprivileged, sandboxed worker\n"
         "(global.user, global.group, global.chroot)\n"
         "signals: SIGTERM/SIGINT stop, SIGHUP reloads the config file, SIGUSR1 writes the status to stderr as one\n"
         "'stats {json}' line\n";
}

std::optional<CliOptions> parseCommandLine(int argc, char** argv, std::string& error) {
  CliOptions o;
  int i = 1;
  if (i < argc && std::strcmp(argv[i], "check") == 0) {
    o.mode = CliOptions::Mode::Check;
    ++i;
  } else if (i < argc && std::strcmp(argv[i], "status") == 0) {
    o.mode = CliOptions::Mode::Status;
    ++i;
  } else if (i < argc && std::strcmp(argv[i], "reload") == 0) {
    o.mode = CliOptions::Mode::Reload;
    ++i;
  } else if (i < argc && std::strcmp(argv[i], "run") == 0) {
    ++i;
  }
  bool have_config = false;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool inline_value = false;
    if (a.rfind("--", 0) == 0) {
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        inline_value = true;
      }
    }
    auto need = [&](std::string& out) -> bool {
      if (inline_value) {
        out = value;
        return true;
      }
      if (i + 1 >= argc) {
        error = a + " needs a value";
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      o.mode = CliOptions::Mode::Help;
      return o;
    } else if (a == "-V" || a == "--version") {
      o.mode = CliOptions::Mode::Version;
      return o;
    } else if (a == "-c" || a == "--config") {
      if (!need(o.config_path)) return std::nullopt;
      have_config = true;
    } else if (a == "--json" && o.mode == CliOptions::Mode::Status && !inline_value) {
      o.json = true;
    } else if (a == "--socket" && (o.mode == CliOptions::Mode::Status || o.mode == CliOptions::Mode::Reload)) {
      if (!need(v)) return std::nullopt;
      o.status_socket = v;
    } else if (a == "--log-level") {
      if (!need(v)) return std::nullopt;
      o.log_level = v;
    } else if (a == "--listen-fd") {
      if (!need(v)) return std::nullopt;
      auto eq = v.find('=');
      std::optional<int> fd = eq == std::string::npos ? std::nullopt : parseFd(v.substr(eq + 1));
      if (eq == 0 || !fd) {
        error = "--listen-fd \"" + v + "\": expected FRONTEND=N, e.g. --listen-fd lan_ntp=3";
        return std::nullopt;
      }
      o.listen_fds.emplace_back(v.substr(0, eq), *fd);
    } else if (a == "--worker-fd") {
      if (!need(v)) return std::nullopt;
      o.worker_fd = parseFd(v);
      if (!o.worker_fd) {
        error = "--worker-fd \"" + v + "\": expected a file descriptor number";
        return std::nullopt;
      }
    } else if (a == "--preset") {
      if (!need(o.preset)) return std::nullopt;
      o.one_line = true;
    } else if (a == "--listen") {
      if (!need(v)) return std::nullopt;
      o.listen.push_back(v);
    } else if (a == "--upstream") {
      if (!need(v)) return std::nullopt;
      o.upstream.push_back(v);
    } else if (a == "--allow") {
      if (!need(v)) return std::nullopt;
      o.allow.push_back(v);
    } else if (a == "--timeout") {
      if (!need(v)) return std::nullopt;
      o.timeout = v;
    } else if (a == "--responses") {
      if (!need(v)) return std::nullopt;
      o.responses = v;
    } else if (a == "--balance") {
      if (!need(v)) return std::nullopt;
      o.balance = v;
    } else {
      error = "unknown argument \"" + a + "\"";
      return std::nullopt;
    }
  }
  bool any_one_line = !o.listen.empty() || !o.upstream.empty() || !o.allow.empty() || o.timeout || o.responses || o.balance;
  if (any_one_line && !o.one_line) {
    error = "--listen, --upstream, --allow, --timeout, --responses and --balance need --preset";
    return std::nullopt;
  }
  if (o.mode == CliOptions::Mode::Status && (o.one_line || o.log_level)) {
    error = "udpx status takes only -c FILE, --socket NAME and --json";
    return std::nullopt;
  }
  if (o.mode == CliOptions::Mode::Reload && (o.one_line || o.log_level || !o.listen_fds.empty())) {
    error = "udpx reload takes only -c FILE and --socket NAME";
    return std::nullopt;
  }
  if (o.one_line) {
    if (have_config) {
      error = "use either -c FILE or --preset, not both";
      return std::nullopt;
    }
    if (o.listen.empty() || o.upstream.empty()) {
      error = "--preset needs at least one --listen and one --upstream";
      return std::nullopt;
    }
  }
  return o;
}

std::string oneLineConfig(const CliOptions& o) {
  std::string t;
  t += "[frontend.cli]\n";
  t += "listen = " + tomlArray(o.listen) + "\n";
  t += "preset = " + tomlString(o.preset) + "\n";
  t += "backend = \"cli\"\n";
  if (!o.allow.empty()) t += "allow = " + tomlArray(o.allow) + "\n";
  if (o.timeout) t += "session_timeout = " + tomlString(*o.timeout) + "\n";
  if (o.responses) {
    bool numeric = !o.responses->empty() && o.responses->find_first_not_of("0123456789") == std::string::npos &&
                   o.responses->size() < 10;
    t += "responses = " + (numeric ? *o.responses : tomlString(*o.responses)) + "\n";
  }
  t += "\n[backend.cli]\n";
  t += "servers = " + tomlArray(o.upstream) + "\n";
  if (o.balance) t += "balance = " + tomlString(*o.balance) + "\n";
  return t;
}

std::string flagForPath(const std::string& path) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"frontend.cli.listen", "--listen"},   {"frontend.cli.preset", "--preset"},
      {"frontend.cli.allow", "--allow"},     {"frontend.cli.session_timeout", "--timeout"},
      {"frontend.cli.responses", "--responses"}, {"backend.cli.servers", "--upstream"},
      {"backend.cli.balance", "--balance"},
  };
  for (const auto& [prefix, flag] : kMap) {
    std::string p = prefix;
    if (path.rfind(p, 0) == 0) {
      std::string rest = path.substr(p.size());  // "" or "[N]"
      if (rest.size() > 2 && rest.front() == '[' && rest.back() == ']') {
        int n = std::atoi(rest.c_str() + 1);
        return std::string(flag) + " #" + std::to_string(n + 1);
      }
      return flag;
    }
  }
  return path;
}

}  // namespace udpx
