import { LabIcon } from '@jupyterlab/ui-components';

import cubeSvg from '../style/icons/cube.svg';
import pipelineSvg from '../style/icons/pipeline.svg';

export const cubeIcon = new LabIcon({ name: 'cubelab:cube', svgstr: cubeSvg });
export const pipelineIcon = new LabIcon({
  name: 'cubelab:pipeline',
  svgstr: pipelineSvg
});
