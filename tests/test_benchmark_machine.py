from keras_hire.benchmark.machine import machine_description, machine_line

CPUINFO = """processor\t: 0
model name\t: Test CPU 9000
flags\t\t: fpu sse2 avx2 fma avx512f amx_int8

processor\t: 1
model name\t: Other CPU
flags\t\t: fpu
"""


def test_machine_description_reads_the_first_cores_model_and_isa_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    description = machine_description(str(path))
    assert description["cpu"] == "Test CPU 9000"
    assert description["isa"] == ["avx2", "fma", "avx512f", "amx_int8"]
    assert machine_line(description).startswith("machine: Test CPU 9000, ")
    assert machine_line(description).endswith("ISA avx2 fma avx512f amx_int8")


def test_machine_description_without_cpuinfo_names_no_isa(tmp_path):
    description = machine_description(str(tmp_path / "missing"))
    assert description["isa"] == [] and description["cores"] >= 1
    assert machine_line(description).endswith("ISA n/a")
