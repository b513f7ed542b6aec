# The paper page of a paper config (tcbench.reporting.paper_page): once every campaign's summaries exist, every
# published table and figure rebuilt next to the paper, and the paper's findings decided on the runs. Campaigns the
# plan skipped (dataset not imported) show as pending on it, with the command that imports their data.

from tcbench.campaign.paper import plan_record

PAPER_DIR = RESULTS / "paper"
PAPER_OUTPUTS = [str(PAPER_DIR / name) for name in ("report.html", "tables.csv", "findings.csv")]


rule paper_report:
    input:
        manifests=[c.manifest for c in CAMPAIGNS],
        runsinfo=[f for c in CAMPAIGNS for f in c.runsinfo],
    output:
        page=report(PAPER_OUTPUTS[0], caption="../report/paper_page.rst", category="Paper"),
        tables=PAPER_OUTPUTS[1],
        findings=PAPER_OUTPUTS[2],
    params:
        plan=json.dumps(plan_record(PLAN), sort_keys=True),
        # results_dir, above results/paper/
        results=lambda wildcards, output: os.path.dirname(os.path.dirname(output.page)),
        out=lambda wildcards, output: os.path.dirname(output.page),
    localrule: True
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "paper" / "report.log"),
    benchmark:
        str(LOGS / "paper" / "report.benchmark.tsv")
    shell:
        "tcbench campaign paper-report --plan-json {params.plan:q} --results-dir {params.results:q} "
        "--output-dir {params.out:q} > {log} 2>&1"
