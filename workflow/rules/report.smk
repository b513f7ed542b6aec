# Campaign outputs: the per-run AIM repos merged into one labelled repo, the summary tables and plots, the analysis
# (paired comparisons, critical-difference diagrams, the paper side by side) and the campaign's report page.


# First into the campaign folder: which runs it is made from (a campaign id names one grid, tcbench.campaign.folder).
rule campaign_manifest:
    output:
        CAMPAIGN_MANIFEST,
    params:
        digest=digest(CAMPAIGN_RECORD),
    log:
        str(CAMPAIGN_LOGS / "manifest.log"),
    run:
        write_manifest(output[0], CAMPAIGN_RECORD)


rule merge_campaign:
    input:
        manifest=CAMPAIGN_MANIFEST,
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
        str(CAMPAIGN_LOGS / "merge.log"),
    benchmark:
        str(CAMPAIGN_LOGS / "merge.benchmark.tsv")
    shell:
        "tcbench campaign merge --campaign-id {params.campaign_id} {params.experiment} --dst {params.dst} "
        "--report {output.report} {input.markers} > {log} 2>&1"


rule campaign_summary:
    input:
        manifest=CAMPAIGN_MANIFEST,
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
        str(CAMPAIGN_LOGS / "summary.log"),
    shell:
        "tcbench campaign summary --campaign-id {params.campaign_id} {params.experiment} --output-dir {params.out} "
        "--metrics {params.metrics} --quiet {input.markers} > {log} 2>&1"


rule campaign_plots:
    input:
        markers=marker_paths(),
        summaries=summary_csv_files(),
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
        str(CAMPAIGN_LOGS / "plots.log"),
    shell:
        "tcbench campaign plots --campaign-id {params.campaign_id} --output-dir {params.out} "
        "$(printf -- '--summary-csv %s ' {input.summaries}) {input.markers} > {log} 2>&1"


rule campaign_analysis:
    input:
        runsinfo=runsinfo_files(),
    output:
        tables=analysis_files("csv"),
        figures=[report(p, caption=analysis_caption(p), category="Comparisons") for p in analysis_files("png")],
    params:
        # the campaign folder, above campaign_summary/
        campaign_dir=lambda wildcards, input: os.path.dirname(os.path.dirname(input.runsinfo[0])),
        metrics=",".join(config["report"]["metrics"]),
        options=ANALYSIS_OPTIONS,
        title=config["campaign_id"],
    conda:
        "../envs/tcbench.yaml"
    log:
        str(CAMPAIGN_LOGS / "analysis.log"),
    shell:
        "tcbench campaign analyze --campaign-dir {params.campaign_dir} --metrics {params.metrics} {params.options} "
        "--title {params.title:q} {input.runsinfo} > {log} 2>&1"


rule campaign_report:
    input:
        markers=marker_paths(),
        runsinfo=runsinfo_files(),
        analysis=ANALYSIS_FILES,
        summaries=summary_csv_files(),
        merged=str(MERGE_REPORT),
    output:
        report(str(CAMPAIGN_DIR / "report.html"), caption="../report/report_page.rst", category="Campaign report"),
    params:
        config=json.dumps(lasting_settings(config), sort_keys=True),
        campaign_dir=lambda wildcards, output: os.path.dirname(output[0]),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(CAMPAIGN_LOGS / "report.log"),
    benchmark:
        str(CAMPAIGN_LOGS / "report.benchmark.tsv")
    shell:
        "tcbench campaign report --config-json {params.config:q} --campaign-dir {params.campaign_dir} --output {output} "
        "$(printf -- '--runsinfo %s ' {input.runsinfo}) {input.markers} > {log} 2>&1"
