from elmo.machine import cpu_model, report


def test_the_report_names_the_cpu_torch_threads_and_the_row_check():
    lines = report().splitlines()
    assert lines[0].startswith("cpu: ") and cpu_model() in lines[0]
    assert lines[1].startswith("torch: ") and "threads" in lines[1] and "BLAS" in lines[1]
    assert lines[2].startswith("row tiles: ")
