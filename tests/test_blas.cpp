// OpenBLAS kernel choice on recorded CPUs: which kernel set to switch to, when to keep OpenBLAS's own,
// and which requests to refuse because the CPU lacks the instructions. The flag lines are copied from
// /proc/cpuinfo of real machines, so the tests do not depend on the CPU they run on.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "dlm/blas.h"
#include "dlm/error.h"

namespace {

// The development machine: Xeon family 6 model 0xCF (Emerald Rapids) under a hypervisor, AVX-512 with
// BF16 and FP16, no AMX exposed. OpenBLAS 0.3.21 does not know the model and picks Prescott.
const char* kEmeraldRapids =
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse "
    "sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid "
    "tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes "
    "xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch cpuid_fault fsgsbase tsc_adjust bmi1 hle avx2 "
    "smep bmi2 erms invpcid rtm avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni "
    "avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 arat avx512vbmi umip avx512_vbmi2 "
    "gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid cldemote movdiri movdir64b fsrm "
    "serialize tsxldtrk avx512_fp16 arch_capabilities";

// Xeon Gold 6148 (Skylake-SP): AVX-512 F/CD/BW/DQ/VL, no BF16.
const char* kSkylakeX =
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx "
    "fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good "
    "nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg "
    "fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand "
    "lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 cdp_l3 invpcid_single pti intel_ppin ssbd mba ibrs ibpb "
    "stibp tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid "
    "rtm cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl "
    "xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local dtherm ida arat pln pts pku "
    "ospke md_clear flush_l1d arch_capabilities";

// Core i7-4770 (Haswell): AVX2 and FMA, no AVX-512.
const char* kHaswell =
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx "
    "fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon pebs bts rep_good nopl "
    "xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma "
    "cx16 xtpr pdcm pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm "
    "abm cpuid_fault epb invpcid_single pti ssbd ibrs ibpb stibp tpr_shadow vnmi flexpriority ept vpid ept_ad "
    "fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid xsaveopt dtherm ida arat pln pts md_clear flush_l1d";

// Ryzen 9 5900X (Zen 3): AVX2 and FMA, no AVX-512, no FMA4.
const char* kZen3 =
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse "
    "sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid "
    "extd_apicid aperfmperf rapl pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx "
    "f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs skinit "
    "wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb cat_l3 cdp_l3 hw_pstate ssbd mba ibrs "
    "ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a rdseed adx smap clflushopt clwb "
    "sha_ni xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf "
    "xsaveerptr rdpru wbnoinvd arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists "
    "pausefilter pfthreshold avic v_vmsave_vmload vgif v_spec_ctrl umip pku ospke vaes vpclmulqdq rdpid "
    "overflow_recov succor smca fsrm";

// Core 2 Duo E6600 (Conroe): SSE3 and SSSE3, nothing newer.
const char* kCore2 =
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx "
    "fxsr sse sse2 ss ht tm pbe syscall nx lm constant_tsc arch_perfmon pebs bts rep_good nopl cpuid aperfmperf "
    "pni dtherm monitor ds_cpl vmx est tm2 ssse3 cx16 xtpr pdcm lahf_lm pti tpr_shadow";

dlm::BlasChoice choose(const char* flags, const std::string& detected, const std::string& requested = "auto") {
  return dlm::choose_openblas_core(dlm::parse_cpu_flags(flags), detected, requested);
}

// The message of the dlm::Error that choose() throws, or "" when it does not throw.
std::string refusal(const char* flags, const std::string& detected, const std::string& requested) {
  try {
    choose(flags, detected, requested);
  } catch (const dlm::Error& e) {
    return e.what();
  }
  return "";
}

TEST(BlasCpuFlags, ParsesTheCpuinfoLineWithOrWithoutItsLabel) {
  const dlm::CpuFeatures cpu = dlm::parse_cpu_flags(kEmeraldRapids);
  EXPECT_TRUE(cpu.has("fpu"));
  EXPECT_TRUE(cpu.has("pni"));
  EXPECT_TRUE(cpu.has("avx512_bf16"));
  EXPECT_TRUE(cpu.has("arch_capabilities"));
  EXPECT_FALSE(cpu.has("flags"));
  EXPECT_FALSE(cpu.has(":"));
  EXPECT_FALSE(cpu.has("amx_tile"));
  EXPECT_EQ(dlm::parse_cpu_flags("avx2 fma").flags.size(), 2u);
}

TEST(BlasChoice, BestKernelSetFollowsTheInstructionSet) {
  EXPECT_EQ(dlm::best_openblas_core(dlm::parse_cpu_flags(kEmeraldRapids)), "COOPERLAKE");
  EXPECT_EQ(dlm::best_openblas_core(dlm::parse_cpu_flags(kSkylakeX)), "SKYLAKEX");
  EXPECT_EQ(dlm::best_openblas_core(dlm::parse_cpu_flags(kHaswell)), "HASWELL");
  EXPECT_EQ(dlm::best_openblas_core(dlm::parse_cpu_flags(kZen3)), "HASWELL");
  EXPECT_EQ(dlm::best_openblas_core(dlm::parse_cpu_flags(kCore2)), "");
  EXPECT_EQ(dlm::best_openblas_core(dlm::parse_cpu_flags("sse2 pni ssse3 avx")), "SANDYBRIDGE");
  EXPECT_EQ(dlm::best_openblas_core(dlm::parse_cpu_flags("avx avx2")), "SANDYBRIDGE");  // no FMA
}

TEST(BlasChoice, SwitchesWhenOpenBlasFellBackToGenericKernels) {
  const dlm::BlasChoice here = choose(kEmeraldRapids, "Prescott");
  EXPECT_TRUE(here.switch_core);
  EXPECT_EQ(here.core, "COOPERLAKE");
  const dlm::BlasChoice skylake = choose(kSkylakeX, "Prescott");
  EXPECT_TRUE(skylake.switch_core);
  EXPECT_EQ(skylake.core, "SKYLAKEX");
  // A lower AVX level is replaced too: AVX2 kernels on an AVX-512 machine.
  const dlm::BlasChoice haswell_on_skylake = choose(kSkylakeX, "Haswell");
  EXPECT_TRUE(haswell_on_skylake.switch_core);
  EXPECT_EQ(haswell_on_skylake.core, "SKYLAKEX");
  const dlm::BlasChoice haswell = choose(kHaswell, "Prescott", "");
  EXPECT_TRUE(haswell.switch_core);
  EXPECT_EQ(haswell.core, "HASWELL");
}

TEST(BlasChoice, KeepsOpenBlasChoiceWhenItIsAsGood) {
  EXPECT_FALSE(choose(kHaswell, "Haswell").switch_core);
  EXPECT_FALSE(choose(kZen3, "Zen").switch_core);
  EXPECT_FALSE(choose(kSkylakeX, "SkylakeX").switch_core);
  EXPECT_FALSE(choose(kEmeraldRapids, "Cooperlake").switch_core);
  // Nothing better than SSE exists for a Core 2.
  EXPECT_FALSE(choose(kCore2, "Prescott").switch_core);
  EXPECT_FALSE(choose(kCore2, "Core2").switch_core);
  // A name this table cannot rank (another architecture, a newer OpenBLAS) is left alone.
  EXPECT_FALSE(choose(kEmeraldRapids, "Unknown").switch_core);
  EXPECT_FALSE(choose(kEmeraldRapids, "neoversen1").switch_core);
  // Without CPU flags (no /proc/cpuinfo) nothing is known to be better.
  EXPECT_FALSE(dlm::choose_openblas_core(dlm::CpuFeatures{}, "Prescott", "auto").switch_core);
}

TEST(BlasChoice, KeepNeverSwitches) {
  for (const char* flags : {kEmeraldRapids, kSkylakeX, kHaswell, kZen3, kCore2}) {
    EXPECT_FALSE(choose(flags, "Prescott", "keep").switch_core);
    EXPECT_FALSE(choose(flags, "Prescott", "KEEP").switch_core);
  }
}

TEST(BlasChoice, UsesARequestedKernelSetInAnyCase) {
  const dlm::BlasChoice haswell = choose(kEmeraldRapids, "Prescott", "haswell");
  EXPECT_TRUE(haswell.switch_core);
  EXPECT_EQ(haswell.core, "HASWELL");
  const dlm::BlasChoice skylake = choose(kEmeraldRapids, "Prescott", "SkylakeX");
  EXPECT_TRUE(skylake.switch_core);
  EXPECT_EQ(skylake.core, "SKYLAKEX");
  // A request lower than OpenBLAS's choice is honoured too.
  const dlm::BlasChoice prescott = choose(kEmeraldRapids, "Cooperlake", "PRESCOTT");
  EXPECT_TRUE(prescott.switch_core);
  EXPECT_EQ(prescott.core, "PRESCOTT");
  // Already running: nothing to do. OpenBLAS reports "Opteron(SSE3)" for OPTERON_SSE3.
  EXPECT_FALSE(choose(kSkylakeX, "SkylakeX", "SKYLAKEX").switch_core);
  EXPECT_FALSE(choose(kZen3, "Opteron(SSE3)", "OPTERON_SSE3").switch_core);
}

TEST(BlasChoice, RefusesKernelsTheCpuCannotRun) {
  const std::string avx512 = refusal(kHaswell, "Haswell", "SKYLAKEX");
  EXPECT_NE(avx512.find("SKYLAKEX"), std::string::npos) << avx512;
  EXPECT_NE(avx512.find("avx512f"), std::string::npos) << avx512;
  EXPECT_EQ(avx512.find("avx2"), std::string::npos) << avx512;  // only what is missing
  EXPECT_EQ(avx512.find('\n'), std::string::npos) << avx512;
  const std::string bf16 = refusal(kSkylakeX, "SkylakeX", "cooperlake");
  EXPECT_NE(bf16.find("avx512_bf16"), std::string::npos) << bf16;
  EXPECT_EQ(bf16.find("avx512f,"), std::string::npos) << bf16;
  // This machine has AVX-512 FP16 but no AMX.
  const std::string amx = refusal(kEmeraldRapids, "Prescott", "SAPPHIRERAPIDS");
  EXPECT_NE(amx.find("amx_bf16"), std::string::npos) << amx;
  EXPECT_EQ(amx.find("avx512_fp16"), std::string::npos) << amx;
  // The pre-Zen AMD kernels are written with FMA4, which Zen dropped.
  const std::string fma4 = refusal(kZen3, "Zen", "EXCAVATOR");
  EXPECT_NE(fma4.find("fma4"), std::string::npos) << fma4;
  EXPECT_NE(refusal(kCore2, "Prescott", "SANDYBRIDGE").find("avx"), std::string::npos);
  EXPECT_NE(refusal(kCore2, "Prescott", "NEHALEM").find("sse4_1"), std::string::npos);
  EXPECT_EQ(refusal(kCore2, "Prescott", "CORE2"), "");
}

TEST(BlasChoice, RefusesUnknownNamesListingTheValidOnes) {
  const std::string unknown = refusal(kEmeraldRapids, "Prescott", "SKYLAKE");
  EXPECT_NE(unknown.find("'SKYLAKE'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("keep"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("COOPERLAKE"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("ZEN"), std::string::npos) << unknown;
  EXPECT_NE(refusal(kHaswell, "Haswell", "fastest"), "");
}

// The environment override is checked on any BLAS (also MKL, where it has no effect), so a typo is
// never silently ignored; "keep" never restarts the test program, and blas_report() repeats its line.
TEST(BlasEnvironment, RefusesAnUnknownOverrideAndKeepsWithKeep) {
  const char* saved = std::getenv("DLM_BLAS_KERNELS");
  const std::string previous = saved ? saved : "";
  setenv("DLM_BLAS_KERNELS", "NOT_A_CORE", 1);
  char program[] = "dlm_tests";
  char* argv[] = {program, nullptr};
  EXPECT_THROW(dlm::ensure_blas_kernels(argv), dlm::Error);
  setenv("DLM_BLAS_KERNELS", "keep", 1);
  const dlm::BlasStatus status = dlm::ensure_blas_kernels(argv);
  EXPECT_EQ(status.line.rfind("BLAS: ", 0), 0u) << status.line;
  EXPECT_EQ(dlm::blas_report().line, status.line);  // code deeper in reports what the app decided
  if (saved) {
    setenv("DLM_BLAS_KERNELS", previous.c_str(), 1);
  } else {
    unsetenv("DLM_BLAS_KERNELS");
  }
}

}  // namespace
