// Injected into a copy of the report: opens every category, every result's information panel, and writes
// what a reader would see ({category: {file: description}}) into a pre element with id rendered-report.
(() => {
  const wait = ms => new Promise(resolve => setTimeout(resolve, ms));
  const leaf = text => Array.from(document.querySelectorAll("#app *"))
    .find(element => element.children.length === 0 && element.textContent.trim() === text);
  // A category's results: the rows with an information button (the front page's own tables have none).
  const resultRows = () => Array.from(document.querySelectorAll("#app tbody tr"))
    .filter(row => row.querySelector('a[iconname="information-circle"]'));
  const description = () => {
    const text = document.getElementById("app").innerText;
    const match = text.match(/DESCRIPTION\s*([\s\S]*?)\s*SIZE/);
    return match ? match[1].trim() : "";
  };
  window.addEventListener("load", async () => {
    const seen = {};
    const out = document.createElement("pre");
    out.id = "rendered-report";
    try {
      await wait(2000);
    for (const category of CATEGORIES) {
      const results = leaf("Results");  // back to the list of categories
      if (results && results.closest("a")) {
        results.closest("a").click();
        await wait(500);
      }
      const link = leaf(category);
      if (!link) continue;
      seen[category] = {};
      link.closest("a").click();
      await wait(1000);
      const files = resultRows().map(row => row.querySelector("td").textContent.trim());
      for (const file of files) {
        resultRows().find(row => row.querySelector("td").textContent.trim() === file)
          .querySelector('a[iconname="information-circle"]').click();
        await wait(500);
        seen[category][file] = description();
        leaf(category).closest("a").click();
        await wait(500);
      }
    }
      out.textContent = JSON.stringify(seen);
    } catch (error) {
      out.textContent = JSON.stringify({error: String(error), seen: seen});
    }
    document.body.appendChild(out);
  });
})();
