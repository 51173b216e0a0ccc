// The zip subcommands. Each parses its own arguments and returns the process exit code;
// errors are thrown (zip::UsageError → exit 2, zip::Error → exit 1) and printed by main.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace zip {
struct TokenizerData;
namespace distill {
struct LoopOptions;
struct LoopResult;
struct TokenData;
}  // namespace distill
namespace train {
enum class Precision;
}  // namespace train
}  // namespace zip

namespace zip::cli {

class Args;
struct Option;

int cmd_convert(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_slice(int argc, char** argv);
int cmd_verify(int argc, char** argv);
int cmd_plot(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_bench_train(int argc, char** argv);  // zip bench --train (cmd_bench_train.cpp)
int cmd_train(int argc, char** argv);
int cmd_distill(int argc, char** argv);
int cmd_compress(int argc, char** argv);
int cmd_importance(int argc, char** argv);
void print_version();  // zip --version (tools/zip/version.cpp)
int cmd_export(int argc, char** argv);

// Shared by train and distill (tools/zip/cmd_train.cpp): the loop's flags, their values, a
// tokenizer from a .zlm or a tokenizer file, a tokens.bin checked against that tokenizer, and
// the final one-line summary on stderr (with the threads used).
void add_loop_options(std::vector<Option>& o);
// -t, after refusing any --device but cpu (usage error: the training ops run on the CPU only).
int training_threads(const Args& args);
// --precision f32|bf16 (default f32; usage error otherwise) and its option line.
train::Precision precision_arg(const Args& args, const char* flag = "--precision");
Option precision_option();
distill::LoopOptions loop_options(const Args& args, const std::string& out, const std::string& label);
std::shared_ptr<const TokenizerData> load_tokenizer_arg(const std::string& path);
distill::TokenData load_tokens_for(const std::string& path, const TokenizerData& tok);
// The loop's MFU inputs: the FLOPs per token given, and the f32 peak of `threads` measured now
// (kernels/cpu/peak_flops.h, ~0.1 s).
// MFU against the measured peak of the precision the products run in (bf16: the BF16 dot-product peak).
void set_mfu_inputs(distill::LoopOptions& lo, double flops_per_token, int threads, train::Precision precision);
void print_summary(const std::string& cmd, const distill::LoopOptions& lo, const distill::LoopResult& r,
                   const std::string& out, int threads);

}  // namespace zip::cli
