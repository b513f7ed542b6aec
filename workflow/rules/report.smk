# Campaign outputs: the per-run AIM repos merged into one labelled repo, and the summary tables.


rule merge_campaign:
    input:
        markers=marker_paths(),
    output:
        report=str(MERGE_REPORT),
    params:
        campaign_id=config["campaign_id"],
        experiment=EXPERIMENT_OPTION,
        dst=lambda wildcards, output: os.path.join(os.path.dirname(output.report), "aim"),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "campaigns" / config["campaign_id"] / "merge.log"),
    benchmark:
        str(LOGS / "campaigns" / config["campaign_id"] / "merge.benchmark.tsv")
    shell:
        "tcbench campaign merge --campaign-id {params.campaign_id} {params.experiment} --dst {params.dst} "
        "--report {output.report} {input.markers} > {log} 2>&1"


rule campaign_summary:
    input:
        markers=marker_paths(),
    output:
        summary_files(),
    params:
        campaign_id=config["campaign_id"],
        experiment=EXPERIMENT_OPTION,
        out=lambda wildcards, output: os.path.dirname(output[0]),
        metrics=",".join(config["report"]["metrics"]),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "campaigns" / config["campaign_id"] / "summary.log"),
    shell:
        "tcbench campaign summary --campaign-id {params.campaign_id} {params.experiment} --output-dir {params.out} "
        "--metrics {params.metrics} --quiet {input.markers} > {log} 2>&1"


rule campaign_plots:
    input:
        markers=marker_paths(),
        summaries=[f for f in summary_files() if f.endswith(".csv")],
    output:
        accuracy=report(str(CAMPAIGN_DIR / "plots" / "accuracy.png"), caption="../report/accuracy.rst", category="Accuracy"),
        confusion=[report(p, caption="../report/confusion.rst", category="Confusion matrices") for p in confusion_plot_files()],
        tables=[report(p, caption="../report/summary.rst", category="Summary") for p in summary_table_files()],
    params:
        campaign_id=config["campaign_id"],
        out=lambda wildcards, output: os.path.dirname(output.accuracy),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "campaigns" / config["campaign_id"] / "plots.log"),
    shell:
        "tcbench campaign plots --campaign-id {params.campaign_id} --output-dir {params.out} "
        "$(printf -- '--summary-csv %s ' {input.summaries}) {input.markers} > {log} 2>&1"
